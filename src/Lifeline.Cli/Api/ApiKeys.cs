using System.Security.Cryptography;
using System.Text;
using Lifeline.Cli.Serve;

namespace Lifeline.Cli.Api;

/// <summary>
/// The keys of <c>--api-key-file</c>: one key per line, blank lines ignored, surrounding white space trimmed. Only
/// their SHA-256 hashes are kept; a presented key is hashed and compared with every one of them in constant time
/// (<see cref="CryptographicOperations.FixedTimeEquals"/> over equal-length hashes, no early exit), so neither the
/// comparison nor the number of keys tried leaks how much of a key was right.
/// </summary>
internal sealed class ApiKeys
{
    private readonly byte[][] _hashes;

    private ApiKeys(byte[][] hashes) => _hashes = hashes;

    /// <summary>How many keys the file holds.</summary>
    public int Count => _hashes.Length;

    /// <summary>Reads and checks the key file.</summary>
    /// <param name="path">The file of <c>--api-key-file</c>.</param>
    /// <returns>The keys.</returns>
    /// <exception cref="ServeSettingsException">The file is missing or unreadable, holds no key, or a key has white space inside it.</exception>
    public static ApiKeys Load(string path)
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ServeSettingsException($"--api-key-file {path}: cannot read the file: {ex.Message}");
        }

        var errors = new List<string>();
        var hashes = new List<byte[]>();
        for (var i = 0; i < lines.Length; i++)
        {
            var key = lines[i].Trim();
            if (key.Length == 0)
            {
                continue;
            }

            if (key.Any(char.IsWhiteSpace))
            {
                // The key itself is never echoed: the error names the line only.
                errors.Add($"--api-key-file {path}:{i + 1}: a key must not contain white space (one key per line)");
                continue;
            }

            hashes.Add(Hash(key));
        }

        if (errors.Count == 0 && hashes.Count == 0)
        {
            errors.Add($"--api-key-file {path}: the file holds no key (one key per line; blank lines are ignored)");
        }

        if (errors.Count > 0)
        {
            throw new ServeSettingsException(string.Join(Environment.NewLine, errors));
        }

        return new ApiKeys([.. hashes]);
    }

    /// <summary>True when <paramref name="presented"/> is one of the keys; the time taken does not depend on which part matched.</summary>
    /// <param name="presented">The key from <c>Authorization: Bearer</c>.</param>
    /// <returns>True for a known key.</returns>
    public bool Matches(string presented)
    {
        var hash = Hash(presented);
        var found = false;
        foreach (var known in _hashes)
        {
            found |= CryptographicOperations.FixedTimeEquals(hash, known);
        }

        return found;
    }

    private static byte[] Hash(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));
}
