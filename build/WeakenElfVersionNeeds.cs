// MSBuild inline task (RoslynCodeTaskFactory, netstandard): marks ELF version needs weak in a copy of a
// shared library. Used for TorchSharp's libLibTorchSharp.so on Debian 12; see TorchSharpGlibcxxCompat.targets.
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

public sealed class WeakenElfVersionNeeds : Task
{
    [Required] public string SourceFile { get; set; }
    [Required] public string DestinationFile { get; set; }
    [Required] public string Mode { get; set; }
    [Required] public string Versions { get; set; }
    [Required] public string AllowedSymbols { get; set; }
    [Output] public bool Patched { get; set; }

    const uint ShtDynsym = 11, ShtVerneed = 0x6ffffffe, ShtVersym = 0x6fffffff;
    const ushort VerFlgWeak = 0x2;

    public override bool Execute()
    {
        string[] versions = Split(Versions);
        string[] allowed = Split(AllowedSymbols);
        if (string.Equals(Mode, "auto", StringComparison.OrdinalIgnoreCase) && SystemHasAll(versions))
        {
            Log.LogMessage(MessageImportance.Low, "TorchSharpGlibcxxCompat: system libstdc++ has " + Versions + "; nothing to do.");
            if (File.Exists(DestinationFile)) File.Delete(DestinationFile);
            return true;
        }
        byte[] elf = File.ReadAllBytes(SourceFile);
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F' || elf[4] != 2 || elf[5] != 1)
        {
            Log.LogError("TorchSharpGlibcxxCompat: " + SourceFile + " is not a 64-bit little-endian ELF file.");
            return false;
        }
        ulong shoff = U64(elf, 0x28);
        int shentsize = U16(elf, 0x3A), shnum = U16(elf, 0x3C);
        Func<int, ulong> secOffset = i => U64(elf, (int)shoff + i * shentsize + 0x18);
        Func<int, ulong> secSize = i => U64(elf, (int)shoff + i * shentsize + 0x20);
        Func<int, uint> secType = i => U32(elf, (int)shoff + i * shentsize + 0x04);
        Func<int, uint> secLink = i => U32(elf, (int)shoff + i * shentsize + 0x28);
        Func<int, uint> secInfo = i => U32(elf, (int)shoff + i * shentsize + 0x2C);
        int verneed = -1, dynsym = -1, versym = -1;
        for (int i = 0; i < shnum; i++)
        {
            uint t = secType(i);
            if (t == ShtVerneed) verneed = i; else if (t == ShtDynsym) dynsym = i; else if (t == ShtVersym) versym = i;
        }
        if (verneed < 0 || dynsym < 0 || versym < 0)
        {
            Log.LogError("TorchSharpGlibcxxCompat: " + SourceFile + " lacks .gnu.version_r, .dynsym or .gnu.version.");
            return false;
        }
        int strtab = (int)secLink(verneed);
        // Walk Elf64_Verneed records and their Elf64_Vernaux entries.
        var targets = new Dictionary<ushort, int>(); // version index -> offset of vna_flags
        int vn = (int)secOffset(verneed);
        for (uint n = 0, count = secInfo(verneed); n < count; n++)
        {
            int auxCount = U16(elf, vn + 2);
            int aux = vn + (int)U32(elf, vn + 8);
            for (int a = 0; a < auxCount; a++)
            {
                string name = CStr(elf, (int)secOffset(strtab) + (int)U32(elf, aux + 8));
                if (versions.Contains(name)) targets[U16(elf, aux + 6)] = aux + 4;
                uint next = U32(elf, aux + 12);
                if (next == 0) break;
                aux += (int)next;
            }
            uint vnNext = U32(elf, vn + 12);
            if (vnNext == 0) break;
            vn += (int)vnNext;
        }
        if (targets.Count == 0)
        {
            Log.LogMessage(MessageImportance.Low, "TorchSharpGlibcxxCompat: no version need on " + Versions + "; nothing to do.");
            if (File.Exists(DestinationFile)) File.Delete(DestinationFile);
            return true;
        }
        // Safety: every dynamic symbol bound to a weakened version must be on the allow-list.
        int symStr = (int)secLink(dynsym);
        int nsyms = (int)(secSize(dynsym) / 24);
        var offenders = new List<string>();
        for (int s = 0; s < nsyms; s++)
        {
            ushort ver = (ushort)(U16(elf, (int)secOffset(versym) + 2 * s) & 0x7fff);
            if (!targets.ContainsKey(ver)) continue;
            string sym = CStr(elf, (int)secOffset(symStr) + (int)U32(elf, (int)secOffset(dynsym) + 24 * s));
            if (!allowed.Contains(sym)) offenders.Add(sym);
        }
        if (offenders.Count > 0)
        {
            Log.LogError("TorchSharpGlibcxxCompat: " + SourceFile + " really uses symbols of " + Versions + ": "
                + string.Join(", ", offenders) + ". Weakening would hide a real incompatibility; install a newer libstdc++ or set TorchSharpGlibcxxCompat=false.");
            return false;
        }
        foreach (int flagsOffset in targets.Values)
        {
            ushort flags = (ushort)(U16(elf, flagsOffset) | VerFlgWeak);
            elf[flagsOffset] = (byte)(flags & 0xff);
            elf[flagsOffset + 1] = (byte)(flags >> 8);
        }
        Directory.CreateDirectory(Path.GetDirectoryName(DestinationFile));
        if (!File.Exists(DestinationFile) || !File.ReadAllBytes(DestinationFile).SequenceEqual(elf))
        {
            string tmp = DestinationFile + ".tmp";
            File.WriteAllBytes(tmp, elf);
            if (File.Exists(DestinationFile)) File.Delete(DestinationFile);
            File.Move(tmp, DestinationFile);
        }
        Log.LogMessage(MessageImportance.Normal, "TorchSharpGlibcxxCompat: weakened " + Versions + " in " + DestinationFile);
        Patched = true;
        return true;
    }

    static string[] Split(string s) =>
        s.Split(new[] { ';' }, StringSplitOptions.RemoveEmptyEntries).Select(x => x.Trim()).Where(x => x.Length > 0).ToArray();

    static bool SystemHasAll(string[] versions)
    {
        string[] dirs = { "/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib64", "/lib64", "/usr/lib", "/lib" };
        foreach (string d in dirs)
        {
            string p = Path.Combine(d, "libstdc++.so.6");
            if (!File.Exists(p)) continue;
            byte[] lib = File.ReadAllBytes(p);
            return versions.All(v => IndexOf(lib, Encoding.ASCII.GetBytes(v + "\0")) >= 0);
        }
        return false;
    }

    static int IndexOf(byte[] hay, byte[] needle)
    {
        for (int i = 0; i + needle.Length <= hay.Length; i++)
        {
            int j = 0;
            while (j < needle.Length && hay[i + j] == needle[j]) j++;
            if (j == needle.Length) return i;
        }
        return -1;
    }

    static ushort U16(byte[] b, int o) => (ushort)(b[o] | (b[o + 1] << 8));
    static uint U32(byte[] b, int o) => (uint)(b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24));
    static ulong U64(byte[] b, int o) => U32(b, o) | ((ulong)U32(b, o + 4) << 32);
    static string CStr(byte[] b, int o) { int e = o; while (b[e] != 0) e++; return Encoding.ASCII.GetString(b, o, e - o); }
}
