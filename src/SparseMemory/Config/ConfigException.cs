namespace SparseMemory.Config;

/// <summary>A config could not be read, merged or validated. The message names the source, key and fix.</summary>
public sealed class ConfigException(string message) : Exception(message);
