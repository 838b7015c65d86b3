# syntax=docker/dockerfile:1
#
# QRemote as a container image: the Native AOT qmail-remote at /var/qmail/bin/qmail-remote.
#
#   docker build -t qremote .
#   docker build --build-arg RUN_TESTS=true -t qremote .      # also run the test suite while building
#
#   docker run --rm -i -v /var/qmail/control:/var/qmail/control:ro qremote \
#       example.org sender@example.com rcpt@example.org < message
#
# The build and the final stage use the same Debian release (that of the .NET 10 images), so the
# binary finds the glibc and OpenSSL it was linked against.

ARG DOTNET_SDK_IMAGE=mcr.microsoft.com/dotnet/sdk:10.0
ARG RUNTIME_DEPS_IMAGE=mcr.microsoft.com/dotnet/runtime-deps:10.0

# ---------------------------------------------------------------------------------------------
FROM ${DOTNET_SDK_IMAGE} AS build

# Run the tests during the build (they need postfix's smtp-sink, BIND, unbound...: installed only then).
ARG RUN_TESTS=false

ENV DOTNET_NOLOGO=1 \
    DOTNET_CLI_TELEMETRY_OPTOUT=1 \
    MSBUILDDISABLENODEREUSE=1 \
    DEBIAN_FRONTEND=noninteractive

# Native AOT links with clang and needs zlib's headers.
RUN apt-get update \
    && apt-get install -y --no-install-recommends clang zlib1g-dev \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src

# Restore first, from the project files alone, so that the layer is reused while only code changes.
COPY .config/dotnet-tools.json .config/
COPY Directory.Build.props Directory.Packages.props QRemote.sln ./
COPY src/QRemote/QRemote.csproj src/QRemote/
COPY tests/QRemote.Tests/QRemote.Tests.csproj tests/QRemote.Tests/
COPY bench/Fuzz/Fuzz.csproj bench/Fuzz/
RUN dotnet tool restore \
    && dotnet restore QRemote.sln

COPY . .

# Publish (and, when asked, test) through the same Cake targets as CI.
RUN if [ "$RUN_TESTS" = "true" ]; then \
        bash scripts/install-deps.sh all && dotnet cake --target=Test; \
    else \
        dotnet cake --target=Publish; \
    fi \
    && test -x artifacts/publish/qremote

# ---------------------------------------------------------------------------------------------
FROM ${RUNTIME_DEPS_IMAGE} AS final

# qmail's remote-delivery user: qmailr in group nofiles, home /var/qmail.
RUN groupadd --system nofiles \
    && useradd --system --gid nofiles --home-dir /var/qmail --no-create-home --shell /usr/sbin/nologin qmailr \
    && mkdir -p /var/qmail/bin /var/qmail/control

COPY --from=build --chown=root:root --chmod=0755 /src/artifacts/publish/qremote /var/qmail/bin/qmail-remote

USER qmailr
WORKDIR /var/qmail

# argv: host sender recipient...; the message on stdin; qmail-remote's report on stdout.
ENTRYPOINT ["/var/qmail/bin/qmail-remote"]
