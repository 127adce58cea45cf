namespace SparseMemory.Reporting;

/// <summary>Pareto frontier of points where smaller x and larger y are better (e.g. x = forgetting, y = learning).</summary>
public static class Pareto
{
    /// <summary>
    /// Indices of the non-dominated points, ordered by x ascending (then index). A point is dominated when another
    /// has x no larger and y no smaller, and is strictly better in one of them; equal points do not dominate each
    /// other, so all copies of a frontier point are kept. Points with a non-finite coordinate are never on the
    /// frontier and dominate nothing. O(n log n).
    /// </summary>
    public static int[] Frontier(IReadOnlyList<(double X, double Y)> points)
    {
        var order = Enumerable.Range(0, points.Count)
            .Where(i => double.IsFinite(points[i].X) && double.IsFinite(points[i].Y))
            .OrderBy(i => points[i].X).ThenBy(i => i)
            .ToArray();
        var result = new List<int>();
        double bestY = double.NegativeInfinity;   // best y over points with strictly smaller x (all y are finite)
        for (int start = 0; start < order.Length;)
        {
            int end = start;
            double x = points[order[start]].X, groupMax = double.NegativeInfinity;
            while (end < order.Length && points[order[end]].X == x) groupMax = Math.Max(groupMax, points[order[end++]].Y);
            if (groupMax > bestY)
                for (int k = start; k < end; k++)
                    if (points[order[k]].Y == groupMax) result.Add(order[k]);
            bestY = Math.Max(bestY, groupMax);
            start = end;
        }
        return result.ToArray();
    }
}
