namespace QRemote.Delivery;

/// <summary>
/// What happened during one delivery, for the log event: the route, every address tried and how
/// that went, and the time spent in each phase (Postfix's <c>delays=a/b/c/d</c> is the model).
/// Filled by <see cref="Deliverer"/> as it goes; never consulted for an outcome.
/// </summary>
internal sealed class DeliveryTrace
{
    private readonly List<AddressAttempt> _attempts = [];

    /// <summary>smtproutes, literal, MX or implicit MX.</summary>
    public string? Route { get; set; }

    public bool? MxSecure { get; set; }

    /// <summary>The TLS of the last connection: protocol and cipher, or why there was none.</summary>
    public string Tls { get; set; } = "none";

    public TimeSpan Dns { get; set; }

    public TimeSpan Connect { get; set; }

    public TimeSpan Transaction { get; set; }

    public IReadOnlyList<AddressAttempt> Attempts => _attempts;

    public void Add(AddressAttempt attempt) => _attempts.Add(attempt);
}

