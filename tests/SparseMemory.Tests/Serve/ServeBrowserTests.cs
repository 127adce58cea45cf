using System.Diagnostics;
using System.Net.Sockets;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using OpenQA.Selenium.Support.UI;
using Xunit;
using Xunit.Abstractions;

namespace SparseMemory.Tests.Serve;

/// <summary>A test that needs Debian's chromium and chromedriver (installed by .ci/run); skipped with the reason when absent.</summary>
public sealed class BrowserFactAttribute : FactAttribute
{
    public const string Chromium = "/usr/bin/chromium", Driver = "/usr/bin/chromedriver";

    public BrowserFactAttribute()
    {
        if (!File.Exists(Chromium) || !File.Exists(Driver))
            Skip = $"no headless browser: {Chromium} and {Driver} are needed (Debian packages chromium, chromium-driver; .ci/run installs them when it can)";
    }
}

/// <summary>The page at <c>/</c> of the real <c>smf serve</c> process, driven in headless Chromium.</summary>
public sealed class ServeBrowserTests(ServeFixture fx, ITestOutputHelper output) : IClassFixture<ServeFixture>
{
    [BrowserFact]
    public void The_page_teaches_a_fact_asks_and_undoes_it()
    {
        string smf = Path.Combine(AppContext.BaseDirectory, "smf");
        string tokenFile = Path.Combine(fx.Root, "token-browser");
        File.WriteAllText(tokenFile, ServeFixture.Token + "\n");
        var listener = new TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        int port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        string url = $"http://127.0.0.1:{port}";
        var psi = new ProcessStartInfo(smf) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in new[] { "serve", "--model", fx.BaseDir, "--urls", url, "--token-file", tokenFile, "--state", fx.NewStateDir(), "--paraphrases", "4" })
            psi.ArgumentList.Add(a);
        using var process = Process.Start(psi)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            using var http = new HttpClient();
            var deadline = DateTime.UtcNow.AddSeconds(90);
            while (true)
            {
                Assert.False(process.HasExited, "smf serve exited early");
                try { if (http.GetAsync(url + "/health").Result.IsSuccessStatusCode) break; } catch (AggregateException) { }
                Assert.True(DateTime.UtcNow < deadline, "smf serve did not answer /health in 90 s");
                Thread.Sleep(200);
            }
            var options = new ChromeOptions { BinaryLocation = BrowserFactAttribute.Chromium };
            options.AddArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1100,900");
            using var service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(BrowserFactAttribute.Driver)!, Path.GetFileName(BrowserFactAttribute.Driver));
            service.HideCommandPromptWindow = true;
            using var driver = new ChromeDriver(service, options, TimeSpan.FromSeconds(60));
            var wait = new WebDriverWait(driver, TimeSpan.FromSeconds(30));
            driver.Navigate().GoToUrl(url + "/");

            string Ask()
            {
                var box = driver.FindElement(By.Id("prompt"));
                box.Clear();
                box.SendKeys("Where does Ada live?");
                string before = driver.FindElement(By.Id("askOut")).Text;
                driver.FindElement(By.Id("ask")).Click();
                wait.Until(d => d.FindElement(By.Id("askOut")).Text is { Length: > 0 } t && t != before);
                return driver.FindElement(By.Id("askOut")).Text;
            }

            // The forgetting-check chart is on the page (this server runs without the check, so the page says how to enable it).
            wait.Until(d => d.FindElement(By.Id("driftNote")).Text.Contains("--check-every", StringComparison.Ordinal));
            Assert.NotNull(driver.FindElement(By.Id("drift")));
            string first = Ask();
            Assert.Contains("Where does Ada live?", first);
            driver.FindElement(By.Id("token")).SendKeys(ServeFixture.Token);
            driver.FindElement(By.Id("text")).SendKeys("Ada lives in Zorn. Ada has a house in Zorn.");
            driver.FindElement(By.Id("question")).SendKeys("Where does Ada live?");
            driver.FindElement(By.Id("answer")).SendKeys("Zorn");
            driver.FindElement(By.Id("learn")).Click();
            wait.Until(d => d.FindElement(By.Id("learnOut")).Text.Contains("\"rows\"", StringComparison.Ordinal));
            Assert.DoesNotContain("err", driver.FindElement(By.Id("learnOut")).GetAttribute("class") ?? "");
            wait.Until(d => d.FindElements(By.CssSelector("#journal tr")).Count == 1);
            Assert.Contains("Ada lives in Zorn.", driver.FindElement(By.CssSelector("#journal tr")).Text);
            string second = Ask();
            output.WriteLine($"before: {first}\nafter: {second}");
            string shot = Path.Combine(fx.Root, "serve-page.png");
            ((ITakesScreenshot)driver).GetScreenshot().SaveAsFile(shot);
            output.WriteLine($"screenshot: {shot}");

            driver.FindElement(By.CssSelector("#journal tr button")).Click();
            wait.Until(d => d.FindElement(By.Id("undoOut")).Text.Contains("undone", StringComparison.Ordinal));
            wait.Until(d => d.FindElements(By.CssSelector("#journal tr.undone")).Count == 1);
            // After the undo the model answers exactly as before the learn.
            Assert.Equal(first, Ask());
        }
        finally
        {
            if (!process.HasExited) { process.Kill(); process.WaitForExit(); }
        }
    }
}
