using SparseMemory.Checkpoints;
using TorchSharp;
using static TorchSharp.torch;

namespace SparseMemory.Training;

/// <summary>
/// AdamW for every parameter group, with the memory value table's group updated lazily (row-sparse, as
/// <c>torch.optim.SparseAdam</c>): each step only the rows the batch read get a gradient, moments and an update
/// (<see cref="RowSparseAdamW"/> with the loop's β1, β2, ε and the group's weight decay). The other groups are the
/// ordinary dense AdamW (<see cref="TorchStepOptimizer"/>). The default value update of pretraining and full
/// finetuning (<c>train.value_update</c>, <c>full_value_update</c>; docs/method.md#lazy-value-updates).
/// </summary>
/// <remarks>
/// <para>The row gradients come from the method (<see cref="SetValueRows"/>, formed by <see cref="ValueRowGradients"/>
/// from the captured reads; the table itself gets no autograd gradient) and are handed to the trainer for clipping
/// through <see cref="HeldGradients"/>.</para>
/// <para><c>optimizer.bin</c> is one safetensors file (metadata <c>optimizer</c> = <see cref="Name"/>): the row state as
/// <c>values.exp_avg</c>, <c>values.exp_avg_sq</c>, <c>values.row_steps</c>, and the dense groups' TorchSharp AdamW state
/// as the bytes of a U8 tensor <c>dense_adam_w</c>, so a resumed run continues bit for bit.</para>
/// </remarks>
public sealed class LazyValueOptimizer : IStepOptimizer
{
    /// <summary>The <c>optimizer</c> metadata of the saved state.</summary>
    public const string Name = "lazy_adam_w";

    const string ValuesPrefix = "values.";
    const string DenseState = "dense_adam_w";

    readonly int _valueGroup;
    readonly TorchStepOptimizer? _dense;
    readonly RowTableOptimizer _values;

    /// <summary>Builds the optimizer over <paramref name="groups"/>; the group named <paramref name="valueGroup"/>, which must hold the value table alone, is updated lazily.</summary>
    public LazyValueOptimizer(IReadOnlyList<ParamGroupSpec> groups, string valueGroup, LoopSettings loop)
    {
        Groups = groups;
        _valueGroup = groups.ToList().FindIndex(g => g.Name == valueGroup);
        if (_valueGroup < 0) throw new ArgumentException($"no parameter group is named {valueGroup}", nameof(valueGroup));
        var g = groups[_valueGroup];
        if (g.Parameters.Count != 1 || g.Parameters[0].dim() != 2)
            throw new ArgumentException($"group {g.Name} must hold one [S, Dv] table to be updated lazily", nameof(groups));
        _values = new RowTableOptimizer(new RowSparseAdamW(loop.Beta1, loop.Beta2, loop.Eps, g.WeightDecay), Name, g.Lr, g.WeightDecay);
        _values.Attach(g.Parameters[0]);
        var rest = groups.Where((_, i) => i != _valueGroup).ToList();
        _dense = rest.Count > 0 ? new TorchStepOptimizer(rest, loop) : null;
    }

    /// <inheritdoc/>
    public IReadOnlyList<ParamGroupSpec> Groups { get; }

    /// <summary>This step's touched rows (distinct) and their gradients [rows, Dv] (null when none); taken over.</summary>
    public void SetValueRows(long[] rows, Tensor? rowGrads) => _values.SetRows(rows, rowGrads);

    /// <inheritdoc/>
    public void SetLearningRate(int group, double lr)
    {
        if (group == _valueGroup) _values.SetLearningRate(0, lr);
        else _dense!.SetLearningRate(group < _valueGroup ? group : group - 1, lr);
    }

    /// <inheritdoc/>
    public IReadOnlyList<Tensor> HeldGradients(int group) => group == _valueGroup ? _values.HeldGradients(0) : [];

    /// <inheritdoc/>
    public (Tensor Table, long[] Rows)? UpdatedRows => _values.UpdatedRows;

    /// <inheritdoc/>
    public void Step()
    {
        _dense?.Step();
        _values.Step();
    }

    /// <inheritdoc/>
    public void ZeroGrad()
    {
        _dense?.ZeroGrad();
        _values.ZeroGrad();
    }

    /// <inheritdoc/>
    public void Save(Stream destination)
    {
        using var scope = torch.NewDisposeScope();
        var tensors = _values.State().Select(t => (ValuesPrefix + t.Name, t.Tensor)).ToList();
        if (_dense is not null)
        {
            using var bytes = new MemoryStream();
            _dense.Save(bytes);
            tensors.Add((DenseState, torch.tensor(bytes.ToArray())));
        }
        SafeTensors.Write(destination, tensors, new Dictionary<string, string> { ["optimizer"] = Name });
    }

    /// <inheritdoc/>
    public void Load(Stream source, string origin)
    {
        Dictionary<string, Tensor> tensors;
        Dictionary<string, string> metadata;
        try { (tensors, metadata) = SafeTensors.Load(source, origin); }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{origin}: not the state of lazy value updates ({e.Message}). A run started with dense value " +
                "updates (value_update \"dense\", the only kind before lazy updates became the default) resumes only with dense updates: " +
                "set \"value_update\": \"dense\" (pretraining: in the train section; finetuning: full_value_update) in its config.json and on the command line", e);
        }
        if (!metadata.TryGetValue("optimizer", out string? kind) || kind != Name)
            throw new InvalidDataException($"{origin}: optimizer state of kind \"{kind ?? "?"}\", expected \"{Name}\"; the file is from another run");
        var rowState = tensors.Where(kv => kv.Key.StartsWith(ValuesPrefix, StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key[ValuesPrefix.Length..], kv => kv.Value);
        var table = Groups[_valueGroup].Parameters[0];
        if (rowState.TryGetValue("exp_avg", out var m) && (!m.shape.SequenceEqual(table.shape) || m.dtype != table.dtype))
            throw new InvalidDataException($"{origin}: the value-table moments are {m.dtype} [{string.Join(", ", m.shape)}] but the table is " +
                $"{table.dtype} [{string.Join(", ", table.shape)}]; the file is from another model");
        _values.LoadState(rowState, origin);
        if (_dense is not null)
        {
            if (!tensors.TryGetValue(DenseState, out var dense) || dense.dtype != ScalarType.Byte || dense.dim() != 1)
                throw new InvalidDataException($"{origin}: the dense AdamW state ({DenseState}, 1-D U8) is missing");
            using var bytes = new MemoryStream(dense.data<byte>().ToArray(), writable: false);
            _dense.Load(bytes, origin);
            dense.Dispose();
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _dense?.Dispose();
        _values.Dispose();
    }
}
