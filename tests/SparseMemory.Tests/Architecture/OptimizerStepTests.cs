using Mono.Cecil;
using Mono.Cecil.Cil;
using Xunit;

namespace SparseMemory.Tests.Architecture;

/// <summary>
/// One training step (docs/architecture.md): <c>TrainStep</c> is the only type of any project under <c>src/</c> that
/// steps an optimizer. The rule, on the compiled code: a call to <c>Step</c> on <c>IStepOptimizer</c> or on a type that
/// implements it, or to <c>step</c> on a TorchSharp optimizer, is allowed only inside <c>TrainStep</c> and inside a type
/// that itself implements <c>IStepOptimizer</c> (an optimizer whose step delegates to inner ones:
/// <c>TorchStepOptimizer</c> → torch's AdamW, <c>LazyValueOptimizer</c> → its dense and row parts). Lambdas, local
/// functions and iterators count as the type that declares them.
/// </summary>
public sealed class OptimizerStepTests
{
    const string StepOptimizer = "SparseMemory.Training.IStepOptimizer";

    /// <summary>The one caller of the training step's optimizer update.</summary>
    public const string TrainStep = "SparseMemory.Training.TrainStep";

    [Fact]
    public void Only_TrainStep_steps_an_optimizer()
    {
        var calls = StepCalls(SourceTree.Projects().Select(p => p.Load()), exemptOptimizers: true);
        var others = calls.Where(c => c.Caller != TrainStep).ToList();
        Assert.True(others.Count == 0, "optimizer steps outside TrainStep (run the step through TrainStep.Run):\n  " + string.Join("\n  ", others));
        Assert.Contains(calls, c => c.Caller == TrainStep);      // the scan sees the one real call
    }

    [Fact]
    public void The_scan_sees_the_delegating_optimizers_when_they_are_not_exempt()
    {
        // Without the exemption the scan must find exactly the known delegations (IStepOptimizer.Step and torch's step),
        // so the rule above is not passing because the scan misses calls.
        var callers = StepCalls(SourceTree.Projects().Select(p => p.Load()), exemptOptimizers: false).Select(c => c.Caller).Distinct().Order().ToList();
        Assert.Equal(["SparseMemory.Training.LazyValueOptimizer", "SparseMemory.Training.TorchStepOptimizer", TrainStep], callers);
    }

    /// <summary>A call of an optimizer's step: the calling (outermost) type, the method it is in, and the method called.</summary>
    public sealed record StepCall(string Caller, string Method, string Called)
    {
        /// <inheritdoc/>
        public override string ToString() => $"{Caller}.{Method} calls {Called}";
    }

    /// <summary>Every optimizer step call in <paramref name="assemblies"/>; with <paramref name="exemptOptimizers"/>, those inside an <c>IStepOptimizer</c> left out.</summary>
    internal static List<StepCall> StepCalls(IEnumerable<AssemblyDefinition> assemblies, bool exemptOptimizers)
    {
        var calls = new List<StepCall>();
        foreach (var assembly in assemblies)
            foreach (var type in assembly.MainModule.GetTypes())
            {
                var outer = type;
                while (outer.DeclaringType is not null) outer = outer.DeclaringType;
                if (exemptOptimizers && Implements(outer, StepOptimizer)) continue;
                foreach (var m in type.Methods.Where(m => m.HasBody))
                    foreach (var ins in m.Body.Instructions)
                        if (ins.OpCode.FlowControl == FlowControl.Call && ins.Operand is MethodReference called && IsOptimizerStep(called))
                            calls.Add(new StepCall(outer.FullName, m.Name, $"{called.DeclaringType.FullName}.{called.Name}"));
            }
        return calls;
    }

    static bool IsOptimizerStep(MethodReference m)
    {
        if (m.Name == "Step" && m.Parameters.Count == 0) return Resolve(m.DeclaringType) is { } t && (t.FullName == StepOptimizer || Implements(t, StepOptimizer));
        if (m.Name == "step") return Resolve(m.DeclaringType) is { } t && IsTorchOptimizer(t);
        return false;
    }

    /// <summary>A TorchSharp optimizer: the type or a base type is TorchSharp's <c>Optimizer</c> or <c>OptimizerHelper</c>.</summary>
    static bool IsTorchOptimizer(TypeDefinition? t)
    {
        for (; t is not null; t = Resolve(t.BaseType))
            if (t.Module.Assembly.Name.Name == "TorchSharp" && t.Name is "Optimizer" or "OptimizerHelper") return true;
        return false;
    }

    static bool Implements(TypeDefinition? t, string iface)
    {
        for (; t is not null; t = Resolve(t.BaseType))
            if (t.Interfaces.Any(i => i.InterfaceType.FullName == iface || Implements(Resolve(i.InterfaceType), iface))) return true;
        return false;
    }

    static TypeDefinition? Resolve(TypeReference? t)
    {
        if (t is null) return null;
        try { return t.Resolve(); }
        catch (AssemblyResolutionException) { return null; }
    }
}
