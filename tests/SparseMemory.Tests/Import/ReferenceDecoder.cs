using System.Text.Json.Nodes;
using TorchSharp;
using static TorchSharp.torch;

namespace SparseMemory.Tests.Import;

/// <summary>
/// A plain forward pass of a Llama / Mistral / Qwen2 decoder, written in float64 straight from the published
/// description and reading the Hugging Face tensor names and config.json fields directly (so it shares nothing with the
/// import's name mapping or the model code): RMSNorm x / √(mean(x²) + ε) · g; q/k/v projections (+ bias when present);
/// rotary positions in the rotate-half form with frequencies θ^(−2i/hd), rescaled by the Llama 3 rule when
/// rope_scaling says so; query head h reads key/value head ⌊h / (H / H_kv)⌋; causal softmax(q·k / √hd); SwiGLU
/// down(silu(gate x) · up x); tied or separate output head. One sequence, no batching, no caches.
/// </summary>
internal static class ReferenceDecoder
{
    public static double[,] Logits(IReadOnlyDictionary<string, Tensor> hf, JsonObject cfg, long[] ids)
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        Tensor W(string name) => hf[name].to(ScalarType.Float64);
        int d = cfg["hidden_size"]!.GetValue<int>(), layers = cfg["num_hidden_layers"]!.GetValue<int>(), h = cfg["num_attention_heads"]!.GetValue<int>();
        int hkv = cfg["num_key_value_heads"]!.GetValue<int>();
        int hd = cfg["head_dim"]?.GetValue<int>() ?? d / h;
        double eps = cfg["rms_norm_eps"]!.GetValue<double>(), theta = cfg["rope_theta"]!.GetValue<double>();
        bool tied = cfg["tie_word_embeddings"]!.GetValue<bool>();
        int t = ids.Length;

        // Rotary angles: position p, pair i → p · f_i.
        var freq = new double[hd / 2];
        for (int i = 0; i < hd / 2; i++) freq[i] = 1.0 / Math.Pow(theta, 2.0 * i / hd);
        if (cfg["rope_scaling"] is JsonObject rs)
        {
            double factor = rs["factor"]!.GetValue<double>(), lo = rs["low_freq_factor"]!.GetValue<double>(), hi = rs["high_freq_factor"]!.GetValue<double>();
            double old = rs["original_max_position_embeddings"]!.GetValue<int>();
            for (int i = 0; i < freq.Length; i++)
            {
                double wavelength = 2 * Math.PI / freq[i];
                if (wavelength > old / lo) freq[i] /= factor;                       // long wavelengths: scaled
                else if (wavelength >= old / hi)                                      // in between: blended
                {
                    double s = (old / wavelength - lo) / (hi - lo);
                    freq[i] = (1 - s) * freq[i] / factor + s * freq[i];
                }
            }
        }
        var cos = new double[t, hd];
        var sin = new double[t, hd];
        for (int p = 0; p < t; p++)
            for (int j = 0; j < hd; j++) { cos[p, j] = Math.Cos(p * freq[j % (hd / 2)]); sin[p, j] = Math.Sin(p * freq[j % (hd / 2)]); }
        var cosT = torch.tensor(cos);
        var sinT = torch.tensor(sin);
        Tensor Rope(Tensor x)                                                        // x: [T, hd]
        {
            var first = x.narrow(1, 0, hd / 2);
            var second = x.narrow(1, hd / 2, hd / 2);
            return x * cosT + torch.cat([-second, first], 1) * sinT;
        }
        Tensor Norm(Tensor x, string g) => x / torch.sqrt((x * x).mean([1L], keepdim: true) + eps) * W(g);
        Tensor Linear(Tensor x, string name) =>
            hf.ContainsKey(name + ".bias") ? x.matmul(W(name + ".weight").t()) + W(name + ".bias") : x.matmul(W(name + ".weight").t());

        var x = W("model.embed_tokens.weight").index_select(0, torch.tensor(ids));        // [T, D]
        var causal = torch.ones(t, t, ScalarType.Bool).triu(1);
        for (int l = 0; l < layers; l++)
        {
            string p = $"model.layers.{l}.";
            var a = Norm(x, p + "input_layernorm.weight");
            var q = Linear(a, p + "self_attn.q_proj");
            var k = Linear(a, p + "self_attn.k_proj");
            var v = Linear(a, p + "self_attn.v_proj");
            var heads = new List<Tensor>();
            for (int head = 0; head < h; head++)
            {
                int kvHead = head / (h / hkv);
                var qh = Rope(q.narrow(1, head * hd, hd));
                var kh = Rope(k.narrow(1, kvHead * hd, hd));
                var vh = v.narrow(1, kvHead * hd, hd);
                var scores = qh.matmul(kh.t()) / Math.Sqrt(hd);
                scores = scores.masked_fill(causal, double.NegativeInfinity);
                heads.Add(torch.softmax(scores, 1).matmul(vh));
            }
            x = x + torch.cat(heads, 1).matmul(W(p + "self_attn.o_proj.weight").t());
            var m = Norm(x, p + "post_attention_layernorm.weight");
            var gate = m.matmul(W(p + "mlp.gate_proj.weight").t());
            var up = m.matmul(W(p + "mlp.up_proj.weight").t());
            x = x + (gate * torch.sigmoid(gate) * up).matmul(W(p + "mlp.down_proj.weight").t());
        }
        x = Norm(x, "model.norm.weight");
        var logits = x.matmul(W(tied ? "model.embed_tokens.weight" : "lm_head.weight").t());
        var flat = logits.contiguous().data<double>().ToArray();
        long v2 = logits.shape[1];
        var result = new double[t, v2];
        for (int i = 0; i < t; i++) for (int j = 0; j < v2; j++) result[i, j] = flat[i * v2 + j];
        return result;
    }
}
