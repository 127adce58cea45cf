using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Microsoft.AspNetCore.Http;
using SparseMemory.Runs.Serve;
using SparseMemory.Serve;
using Xunit;
using Xunit.Abstractions;

namespace SparseMemory.Tests.Serve;

/// <summary>
/// A theory that needs a non-loopback IPv4 address of this machine (an Up interface that is not loopback); skipped with
/// the reason when there is none (xunit 2.9 has no dynamic skip, so the decision is made when the attribute is constructed).
/// </summary>
public sealed class NonLoopbackTheoryAttribute : TheoryAttribute
{
    public NonLoopbackTheoryAttribute()
    {
        if (NetworkAddresses.NonLoopbackIPv4 is null)
            Skip = "this machine has no non-loopback IPv4 address (no Up interface other than loopback with one), so there is no other address to try the port on";
    }
}

/// <summary>This machine's addresses.</summary>
public static class NetworkAddresses
{
    /// <summary>An IPv4 address of an Up interface that is not loopback, or null.</summary>
    public static IPAddress? NonLoopbackIPv4 { get; } = Find();

    static IPAddress? Find()
    {
        try
        {
            return NetworkInterface.GetAllNetworkInterfaces()
                .Where(n => n.OperationalStatus == OperationalStatus.Up && n.NetworkInterfaceType != NetworkInterfaceType.Loopback)
                .SelectMany(n => n.GetIPProperties().UnicastAddresses)
                .Select(a => a.Address)
                .FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a));
        }
        catch (NetworkInformationException) { return null; }
    }
}

/// <summary>
/// The loopback rule on the wire: the service started as <c>smf serve</c> starts it (<see cref="ServeApp.Build"/> on
/// Kestrel, then <see cref="ServeApp.StartCheckedAsync"/>) answers on 127.0.0.1 and refuses a connection to the same
/// port on this machine's non-loopback address; with --allow-remote on 0.0.0.0 that address connects, so the check
/// tells the two apart.
/// </summary>
public sealed class ServeListenTests(ServeFixture fx, ITestOutputHelper output) : IClassFixture<ServeFixture>
{
    [NonLoopbackTheory]
    [InlineData("http://127.0.0.1:0", false, false)]
    [InlineData("http://localhost:{port}", false, false)]   // smf serve refuses localhost:0 (Kestrel binds no dynamic port for it): a free port
    [InlineData("http://0.0.0.0:0", true, true)]
    public async Task A_loopback_server_refuses_connections_on_the_machines_other_address(string urls, bool allowRemote, bool reachableOutside)
    {
        var other = NetworkAddresses.NonLoopbackIPv4!;
        var options = fx.Options();
        using var service = new MemoryService(options);
        if (urls.Contains("{port}")) urls = urls.Replace("{port}", FreeLoopbackPort().ToString());
        var app = ServeApp.Build(service, options, urls);
        var bound = await ServeApp.StartCheckedAsync(app, allowRemote);
        try
        {
            output.WriteLine($"{urls}: listening on {string.Join(", ", bound)}; other address {other}");
            var ports = bound.Select(u => BindingAddress.Parse(u).Port).Distinct().ToArray();
            int port = Assert.Single(ports);
            Assert.NotEqual(0, port);

            Assert.Equal(SocketError.Success, await ConnectAsync(IPAddress.Loopback, port));
            using (var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(30) })
            using (var health = await http.GetAsync("/health"))
                Assert.Equal(HttpStatusCode.OK, health.StatusCode);

            var outside = await ConnectAsync(other, port);
            output.WriteLine($"connect {other}:{port}: {outside}");
            Assert.Equal(reachableOutside ? SocketError.Success : SocketError.ConnectionRefused, outside);
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    static int FreeLoopbackPort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    /// <summary>A TCP connect to <paramref name="ip"/>:<paramref name="port"/>: Success, or the socket error (TimedOut after 10 s).</summary>
    static async Task<SocketError> ConnectAsync(IPAddress ip, int port)
    {
        using var client = new TcpClient(ip.AddressFamily);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            await client.ConnectAsync(ip, port, cts.Token);
            return SocketError.Success;
        }
        catch (SocketException e) { return e.SocketErrorCode; }
        catch (OperationCanceledException) { return SocketError.TimedOut; }
    }
}
