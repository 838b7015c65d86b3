namespace QRemote.Qmail;

/// <summary>One line of <c>qremote --selftest</c>: what was checked and what was found.</summary>
internal sealed record SelfTestCheck(bool Ok, string Subject, string Detail)
{
    public static SelfTestCheck Pass(string subject, string detail) => new(true, subject, detail);

    public static SelfTestCheck Fail(string subject, string detail) => new(false, subject, detail);

    /// <summary><c>ok   SUBJECT: DETAIL</c> or <c>FAIL SUBJECT: DETAIL</c>, control characters shown as <c>?</c>.</summary>
    public override string ToString() => ReportText.Sanitize($"{(Ok ? "ok  " : "FAIL")} {Subject}: {Detail}").TrimEnd();
}
