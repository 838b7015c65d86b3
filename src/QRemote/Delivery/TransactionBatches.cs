using QRemote.Smtp;

namespace QRemote.Delivery;

/// <summary>
/// A delivery's mailboxes in transactions a server's RFC 9422 limits allow: at most <c>RCPTMAX</c> recipients and
/// at most <c>RCPTDOMAINMAX</c> distinct recipient domains in each, in argv order (greedy: a transaction is closed
/// when the next mailbox would break a limit), so the wire shows the recipients in the order they were given. Without
/// limits, one transaction with every mailbox: the delivery as it always was.
/// </summary>
internal static class TransactionBatches
{
    /// <summary>The mailboxes (indexes into <paramref name="addresses"/>) of each transaction, in order.</summary>
    public static IReadOnlyList<IReadOnlyList<int>> Split(IReadOnlyList<string> addresses, SmtpLimits limits)
    {
        var batches = new List<IReadOnlyList<int>>();
        var current = new List<int>();
        var domains = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < addresses.Count; i++)
        {
            var domain = Domain(addresses[i]);
            var full = current.Count == limits.RcptMax
                || (!domains.Contains(domain) && domains.Count == limits.RcptDomainMax);
            if (full)
            {
                batches.Add(current);
                current = [];
                domains.Clear();
            }

            current.Add(i);
            domains.Add(domain);
        }

        if (current.Count > 0)
        {
            batches.Add(current);
        }

        return batches;
    }

    /// <summary>The domain RCPTDOMAINMAX counts: what follows the last <c>@</c>, in any case (none: the empty domain).</summary>
    public static string Domain(string address)
    {
        var at = address.LastIndexOf('@');
        return at < 0 ? "" : address[(at + 1)..].ToLowerInvariant();
    }
}
