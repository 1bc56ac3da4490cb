using System.Collections.Concurrent;

namespace Lifeline.Server.Connections;

/// <summary>Every live connection of this node, by id. Teardown removes each exactly once.</summary>
internal sealed class ConnectionRegistry
{
    private readonly ConcurrentDictionary<string, Connection> _connections = new(StringComparer.Ordinal);

    public int Count => _connections.Count;

    public ICollection<Connection> All => _connections.Values;

    public void Add(Connection connection) => _connections[connection.Id] = connection;

    public bool Remove(Connection connection) =>
        _connections.TryRemove(new KeyValuePair<string, Connection>(connection.Id, connection));

    public Connection? Find(string id) => _connections.GetValueOrDefault(id);
}
