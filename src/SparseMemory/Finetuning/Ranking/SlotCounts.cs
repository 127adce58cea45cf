using System.Runtime.InteropServices;
using SparseMemory.Memory;
using TorchSharp;
using static TorchSharp.torch;

namespace SparseMemory.Finetuning;

/// <summary>
/// Per-slot access counts c(i) of one batch (or of one optimizer step), for a single value table of
/// <see cref="SlotCount"/> rows.
/// </summary>
/// <remarks>
/// <para>Counting rules (docs/method.md#access-counting and docs/method.md#decisions):</para>
/// <list type="bullet">
/// <item>Every (token, head, rank) lookup counts once, with multiplicity: a slot hit by several heads (or
/// ranks) of one token counts each time.</item>
/// <item>One value table is shared by all memory layers, so counts are per value row, summed over every
/// layer that read the row (the "shared table" default).</item>
/// <item>Pad positions are excluded unless <see cref="PadPolicy.IncludePadding"/> is asked for (peer parity only).</item>
/// </list>
/// </remarks>
public sealed class SlotCounts
{
    private readonly long[] _counts;

    private SlotCounts(long[] counts, PadPolicy padPolicy)
    {
        _counts = counts;
        PadPolicy = padPolicy;
        long total = 0;
        int read = 0;
        foreach (long c in counts)
        {
            if (c < 0)
            {
                throw new ArgumentException("Slot counts must be non-negative.", nameof(counts));
            }

            if (c > 0)
            {
                total = checked(total + c);
                read++;
            }
        }

        TotalAccesses = total;
        ReadSlotCount = read;
    }

    /// <summary>Number of rows S of the value table.</summary>
    public long SlotCount => _counts.LongLength;

    /// <summary>Access count c(i) per slot, length S. Callers must not modify the array.</summary>
    public long[] Counts => _counts;

    /// <summary>Σ_i c(i): the number of counted lookups.</summary>
    public long TotalAccesses { get; }

    /// <summary>Number of slots with c(i) &gt; 0 (the ranking candidates).</summary>
    public int ReadSlotCount { get; }

    /// <summary>Whether pad positions were counted.</summary>
    public PadPolicy PadPolicy { get; }

    /// <summary>Wraps precomputed counts (copied). Every entry must be non-negative.</summary>
    /// <param name="counts">c(i) per slot.</param>
    /// <param name="padPolicy">How the counts were obtained.</param>
    public static SlotCounts FromArray(long[] counts, PadPolicy padPolicy = PadPolicy.ExcludePadding)
    {
        ArgumentNullException.ThrowIfNull(counts);
        return new SlotCounts((long[])counts.Clone(), padPolicy);
    }

    /// <summary>
    /// Counts the reads recorded in a <see cref="MemoryAccessLog"/> (all memory layers of one forward pass); a read
    /// recorded without a valid mask had no padding, so every position counts.
    /// </summary>
    public static SlotCounts FromLog(MemoryAccessLog log, long slotCount)
    {
        ArgumentNullException.ThrowIfNull(log);
        using var scope = torch.NewDisposeScope();
        return FromAccesses(log.Accesses.Select(a => (a.Indices,
            a.ValidMask ?? torch.ones(a.Indices.shape[0], a.Indices.shape[1], dtype: ScalarType.Bool, device: a.Indices.device))).ToList(), slotCount);
    }

    /// <summary>
    /// Counts the accesses reported by the memory layers during one forward pass.
    /// </summary>
    /// <param name="layers">Per memory layer: <c>Indices</c>, int64 slot ids of shape [B, T, H*K], and
    /// <c>ValidMask</c>, bool [B, T], true at real tokens and false at padding.</param>
    /// <param name="slotCount">Rows S of the shared value table; every id must lie in [0, S).</param>
    /// <param name="includePadding">Count pad positions as well. Only for peer-parity tests; the paper excludes them.</param>
    /// <exception cref="ArgumentException">A shape or dtype does not follow the contract.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An accessed id lies outside [0, S).</exception>
    public static SlotCounts FromAccesses(
        IReadOnlyList<(Tensor Indices, Tensor ValidMask)> layers,
        long slotCount,
        bool includePadding = false)
    {
        ArgumentNullException.ThrowIfNull(layers);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(slotCount);
        if (slotCount > Array.MaxLength)
        {
            throw new ArgumentOutOfRangeException(nameof(slotCount), slotCount, "The value table is too large to count into one array.");
        }

        using var scope = torch.NewDisposeScope();
        var counts = new long[slotCount];
        for (int layer = 0; layer < layers.Count; layer++)
        {
            var (indices, mask) = layers[layer];
            ArgumentNullException.ThrowIfNull(indices);
            ArgumentNullException.ThrowIfNull(mask);
            if (indices.dtype != ScalarType.Int64 || indices.dim() != 3)
            {
                throw new ArgumentException(
                    $"Memory layer {layer}: indices must be int64 of shape [B, T, H*K], got {indices.dtype} [{string.Join(", ", indices.shape)}].",
                    nameof(layers));
            }

            if (mask.dtype != ScalarType.Bool || mask.dim() != 2 || mask.shape[0] != indices.shape[0] || mask.shape[1] != indices.shape[1])
            {
                throw new ArgumentException(
                    $"Memory layer {layer}: the valid mask must be bool of shape [{indices.shape[0]}, {indices.shape[1]}], got {mask.dtype} [{string.Join(", ", mask.shape)}].",
                    nameof(layers));
            }

            // One pass over the reads on the CPU (a copy only when they live elsewhere or are strided; the caller's
            // tensors are never disposed).
            var ids = MemoryMarshal.Cast<byte, long>((indices.device_type == DeviceType.CPU ? indices.alias() : indices.cpu()).contiguous().bytes);
            var valid = MemoryMarshal.Cast<byte, bool>((mask.device_type == DeviceType.CPU ? mask.alias() : mask.cpu()).contiguous().bytes);
            int perToken = (int)indices.shape[2];
            for (int token = 0; token < valid.Length; token++)
            {
                if (!includePadding && !valid[token]) continue;
                foreach (long id in ids.Slice(token * perToken, perToken))
                {
                    if ((ulong)id >= (ulong)slotCount)
                    {
                        throw new ArgumentOutOfRangeException(
                            nameof(layers),
                            $"Memory layer {layer} read slot {id} but the value table has {slotCount} rows; the memory layers and the counts disagree on S.");
                    }

                    counts[id]++;
                }
            }
        }

        return new SlotCounts(counts, includePadding ? PadPolicy.IncludePadding : PadPolicy.ExcludePadding);
    }

    /// <summary>
    /// Sums counts of several micro-batches that make up one optimizer step (docs/method.md#gradient-accumulation:
    /// count over the whole step, mask once).
    /// </summary>
    /// <param name="parts">Counts of the same table with the same pad policy.</param>
    public static SlotCounts Sum(IReadOnlyList<SlotCounts> parts)
    {
        ArgumentNullException.ThrowIfNull(parts);
        if (parts.Count == 0)
        {
            throw new ArgumentException("Nothing to sum: pass at least one SlotCounts.", nameof(parts));
        }

        var first = parts[0];
        var sum = new long[first.SlotCount];
        foreach (var part in parts)
        {
            if (part.SlotCount != first.SlotCount || part.PadPolicy != first.PadPolicy)
            {
                throw new ArgumentException("All parts must have the same slot count and pad policy.", nameof(parts));
            }

            var c = part._counts;
            for (int i = 0; i < c.Length; i++)
            {
                sum[i] = checked(sum[i] + c[i]);
            }
        }

        return new SlotCounts(sum, first.PadPolicy);
    }
}
