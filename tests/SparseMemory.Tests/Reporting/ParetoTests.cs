using CsCheck;
using SparseMemory.Reporting;
using Xunit;

namespace SparseMemory.Tests.Reporting;

public sealed class ParetoTests
{
    /// <summary>Reference: a finite point is kept when no other finite point is at least as good in both and better in one.</summary>
    static int[] BruteForce(IReadOnlyList<(double X, double Y)> p)
    {
        bool Finite(int i) => double.IsFinite(p[i].X) && double.IsFinite(p[i].Y);
        bool Dominates(int a, int b) => p[a].X <= p[b].X && p[a].Y >= p[b].Y && (p[a].X < p[b].X || p[a].Y > p[b].Y);
        var kept = new List<int>();
        for (int i = 0; i < p.Count; i++)
        {
            if (!Finite(i)) continue;
            bool dominated = false;
            for (int j = 0; j < p.Count && !dominated; j++) dominated = j != i && Finite(j) && Dominates(j, i);
            if (!dominated) kept.Add(i);
        }
        return kept.OrderBy(i => p[i].X).ThenBy(i => i).ToArray();
    }

    [Fact]
    public void Small_example()
    {
        (double, double)[] pts = [(0.1, 0.5), (0.2, 0.4), (0.3, 0.9), (0.05, 0.2), (0.3, 0.9), (0.3, 0.6), (double.NaN, 1.0), (0.0, double.PositiveInfinity)];
        Assert.Equal([3, 0, 2, 4], Pareto.Frontier(pts));
        Assert.Empty(Pareto.Frontier([]));
    }

    /// <summary>Coordinates on a small grid (many ties), with occasional NaN and infinities.</summary>
    static readonly Gen<double> Coord = Gen.Frequency(
        (12, Gen.Int[0, 6].Select(i => i / 4.0)),
        (4, Gen.Double[-3, 3]),
        (1, Gen.OneOf<double>(double.NaN, double.PositiveInfinity, double.NegativeInfinity, -0.0)));

    [Fact]
    public void Matches_the_brute_force_reference_on_random_points()
    {
        Gen.Select(Coord, Coord).Array[0, 40]
            .Sample(pts => Assert.Equal(BruteForce(pts.Select(t => (t.Item1, t.Item2)).ToList()),
                                        Pareto.Frontier(pts.Select(t => (t.Item1, t.Item2)).ToList())),
                    iter: 2000, threads: 1);
    }

    [Fact]
    public void Matches_the_reference_on_seeded_random_clouds()
    {
        var rng = new Random(7);
        for (int round = 0; round < 50; round++)
        {
            var pts = Enumerable.Range(0, rng.Next(1, 300)).Select(_ => (rng.NextDouble(), rng.NextDouble())).ToList();
            var fast = Pareto.Frontier(pts);
            Assert.Equal(BruteForce(pts), fast);
            for (int k = 1; k < fast.Length; k++) Assert.True(pts[fast[k]].Item2 >= pts[fast[k - 1]].Item2);   // staircase rises
        }
    }
}
