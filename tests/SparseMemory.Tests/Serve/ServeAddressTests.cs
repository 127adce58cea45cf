using SparseMemory.Runs.Serve;
using SparseMemory.Serve;
using Xunit;

namespace SparseMemory.Tests.Serve;

/// <summary>
/// smf serve listens on loopback only unless --allow-remote: every address is read as Kestrel reads it, so no form that
/// Kestrel binds to every interface passes the check (docs/serve.md#starting-it).
/// </summary>
public sealed class ServeAddressTests
{
    [Theory]
    [InlineData("http://127.0.0.1:5077")]
    [InlineData("http://[::1]:5077")]
    [InlineData("http://localhost:5077")]
    [InlineData("http://127.0.0.1:5077;http://[::1]:5078")]
    [InlineData("https://127.0.0.1:5077/base")]
    public void Loopback_addresses_are_accepted_without_allow_remote(string urls) => ServeApp.CheckLoopback(urls, allowRemote: false);

    [Theory]
    [InlineData("http://loopback:5077")]                  // Uri.IsLoopback: true; Kestrel: a host name, so every interface
    [InlineData("http://0.0.0.0@127.0.0.1:5077")]         // Uri: host 127.0.0.1; Kestrel: host "0.0.0.0@127.0.0.1", every interface
    [InlineData("http://user@localhost:5077")]
    [InlineData("http://+:5077")]
    [InlineData("http://*:5077")]
    [InlineData("http://0.0.0.0:5077")]
    [InlineData("http://[::]:5077")]
    [InlineData("http://localhost.example.com:5077")]
    [InlineData("http://127.0.0.1:5077;http://loopback:5078")]
    public void Addresses_that_kestrel_binds_beyond_loopback_are_refused(string urls)
    {
        var e = Assert.Throws<ArgumentException>(() => ServeApp.CheckLoopback(urls, allowRemote: false));
        Assert.StartsWith("--urls: ", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Uri_calls_the_bypass_forms_loopback_which_is_why_the_check_does_not_use_it()
    {
        Assert.True(new Uri("http://loopback:5077").IsLoopback);
        Assert.True(new Uri("http://0.0.0.0@127.0.0.1:5077").IsLoopback);
        Assert.False(ServeApp.IsLoopbackHost("loopback"));
        Assert.False(ServeApp.IsLoopbackHost("0.0.0.0@127.0.0.1"));
        Assert.True(ServeApp.IsLoopbackHost("[::1]"));
        Assert.True(ServeApp.IsLoopbackHost("localhost"));
    }

    [Fact]
    public void Allow_remote_accepts_every_interface_but_never_user_information()
    {
        ServeApp.CheckLoopback("http://0.0.0.0:5077;http://*:5078;http://+:5079;http://example.com:5080", allowRemote: true);
        var e = Assert.Throws<ArgumentException>(() => ServeApp.CheckLoopback("http://0.0.0.0@127.0.0.1:5077", allowRemote: true));
        Assert.Contains("'@'", e.Message);
    }

    [Fact]
    public void Localhost_with_port_0_is_refused_with_the_address_to_use_instead()
    {
        foreach (bool allowRemote in new[] { false, true })
            Assert.Contains("http://127.0.0.1:0", Assert.Throws<ArgumentException>(() => ServeApp.CheckLoopback("http://LocalHost:0", allowRemote)).Message);
        ServeApp.CheckLoopback("http://127.0.0.1:0;http://[::1]:0;http://localhost:5077", allowRemote: false);
    }

    [Fact]
    public void Not_a_url_or_no_address_is_refused()
    {
        Assert.Contains("not a URL", Assert.Throws<ArgumentException>(() => ServeApp.CheckLoopback("127.0.0.1:5077", false)).Message);
        Assert.Contains("empty", Assert.Throws<ArgumentException>(() => ServeApp.CheckLoopback(" ; ", false)).Message);
    }

    [Fact]
    public void The_addresses_kestrel_reports_after_binding_every_interface_are_refused()
    {
        // What Kestrel lists when it listens on every interface (a host name, *, + or an override from configuration).
        foreach (string bound in new[] { "http://[::]:5077", "http://0.0.0.0:5077" })
            Assert.Throws<ArgumentException>(() => ServeApp.CheckBound([bound], allowRemote: false));
        ServeApp.CheckBound(["http://127.0.0.1:5077", "http://[::1]:5077", "http://localhost:5077"], allowRemote: false);
        ServeApp.CheckBound(["http://[::]:5077"], allowRemote: true);
    }

    [Theory]
    [InlineData("http://loopback:5077")]
    [InlineData("http://0.0.0.0@127.0.0.1:5077")]
    [InlineData("http://*:5077")]
    [InlineData("http://localhost:0")]                    // loopback, but Kestrel would fail after the model is loaded
    public void Smf_serve_refuses_a_bypass_form_or_localhost_port_0_in_one_line_before_loading_anything(string urls)
    {
        var (code, _, err) = Smf.Run("serve", "--model", "/nonexistent-model", "--urls", urls, "--token-file", "/nonexistent-token");
        Assert.Equal(2, code);
        Assert.StartsWith("error: --urls: ", err);
        Assert.DoesNotContain("not found", err);             // refused before the token file or the model is looked at
        Assert.Single(err.Trim().Split('\n'));
    }
}
