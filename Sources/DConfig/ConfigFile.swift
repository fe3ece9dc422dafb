import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// Reading config files and resolving the paths inside them.
public enum ConfigFile {
    /// Parses the YAML file at `path`; a missing or unreadable file is a `ConfigError`.
    public static func load(_ path: String) throws(ConfigError) -> YAMLNode {
        guard FileManager.default.fileExists(atPath: path) else {
            throw ConfigError(file: path, message: "no such file")
        }
        guard (try? FileManager.default.contentsOfDirectory(atPath: path)) == nil else {
            throw ConfigError(file: path, message: "is a directory, not a YAML file")
        }
        // A device (/dev/null), FIFO or socket is no config file, and reading one may block.
        // stat follows links, which stay fine.
        var info = stat()
        if stat(path, &info) == 0, info.st_mode & S_IFMT != S_IFREG {
            let kind = switch info.st_mode & S_IFMT {
            case S_IFCHR: "a character device"
            case S_IFBLK: "a block device"
            case S_IFIFO: "a pipe"
            case S_IFSOCK: "a socket"
            default: "a special file"
            }
            throw ConfigError(file: path, message: "is not a regular file (it is \(kind))", hint: "give the path of a YAML file")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError(file: path, message: "cannot read the file (permissions?)")
        }
        guard let text = String(validating: data, as: UTF8.self) else {
            throw ConfigError(file: path, message: "is not UTF-8 text", hint: "config files are YAML")
        }
        guard text.contains(where: { !$0.isWhitespace }) else {
            throw ConfigError(file: path, message: "is empty", hint: "a config file is a YAML mapping of keys to values; see Configs/README.md")
        }
        return try YAML.parse(text, file: path)
    }

    /// `path` as written in `file`: absolute paths stay, relative ones are taken from the
    /// directory that holds `file` (not from the working directory).
    public static func resolve(_ path: String, relativeTo file: String) -> String {
        if path.hasPrefix("/") { return path }
        if path.hasPrefix("~/"), let home = ProcessInfo.processInfo.environment["HOME"] {
            return home + path.dropFirst(1)
        }
        let dir = directory(of: file)
        return dir == "." && !file.hasPrefix("./") ? path : "\(dir)/\(path)"
    }

    /// The last component of a path: `net.yaml` for `configs/lenet/net.yaml`.
    public static func fileName(of path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? path
    }

    /// The directory part of a path (`.` for a bare file name).
    public static func directory(of file: String) -> String {
        guard let slash = file.lastIndex(of: "/") else { return "." }
        return slash == file.startIndex ? "/" : String(file[..<slash])
    }
}
