using TorchSharp;
using static TorchSharp.torch;

namespace SparseMemory.Training;

/// <summary>
/// Zeroes every row of a dense value-table gradient except the selected ones, reusing one [S, 1] bool buffer
/// across calls so no table-sized tensor is allocated per step (docs/pitfalls.md#no-table-sized-tensors-per-step).
/// </summary>
/// <remarks>Uses <c>masked_fill_</c>, so NaN or infinite gradients in unselected rows are cleared too.</remarks>
public sealed class RowGradientMask : IDisposable
{
    private Tensor? _drop;
    private bool _disposed;

    /// <summary>Keeps only <paramref name="rows"/> of <paramref name="grad"/> (shape [S, ...]); all other rows become 0.</summary>
    /// <param name="grad">Dense gradient, modified in place.</param>
    /// <param name="rows">Rows to keep, each in [0, S).</param>
    public void MaskRowsInPlace(Tensor grad, long[] rows)
    {
        ArgumentNullException.ThrowIfNull(grad);
        ArgumentNullException.ThrowIfNull(rows);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (grad.dim() < 1)
        {
            throw new ArgumentException("The gradient must have a row dimension.", nameof(grad));
        }

        long s = grad.shape[0];
        RowSparseAdamW.CheckRows(rows, s);
        if (_drop is null || _drop.shape[0] != s || _drop.device != grad.device)
        {
            _drop?.Dispose();
            var shape = new long[grad.dim()];
            Array.Fill(shape, 1L);
            shape[0] = s;
            _drop = torch.ones(shape, ScalarType.Bool, grad.device);
        }

        using var scope = torch.NewDisposeScope();
        using (torch.no_grad())
        {
            _drop.fill_(true);
            if (rows.Length > 0)
            {
                _drop.index_fill_(0, torch.tensor(rows, device: grad.device), false);
            }

            grad.masked_fill_(_drop, 0);
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _drop?.Dispose();
        _drop = null;
        _disposed = true;
    }
}
