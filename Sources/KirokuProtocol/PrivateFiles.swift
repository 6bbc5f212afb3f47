#if canImport(Glibc)
    import Glibc
#endif

#if canImport(FoundationEssentials)
    public import FoundationEssentials
#else
    public import Foundation
#endif

/// The record says who looked up which resident: the journal, the hub's database and the files SQLite
/// keeps beside them (`-wal`, `-shm`) are the owner's alone, whatever the umask, and so are private keys.
public enum PrivateFiles {
    /// Creates every missing folder of `url` with mode 0700 (set explicitly, so a umask cannot widen it).
    /// Folders that exist are left as they are.
    public static func createDirectory(_ url: URL, mode: UInt32 = 0o700) throws(KirokuError) {
        var missing: [String] = []
        var folder = url.standardizedFileURL
        while !FileManager.default.fileExists(atPath: folder.path), folder.path != "/" {
            missing.append(folder.path)
            folder = folder.deletingLastPathComponent()
        }
        for path in missing.reversed() {
            if mkdir(path, mode_t(mode)) != 0 && errno != EEXIST {
                throw KirokuError(
                    .configuration, "cannot create the folder \(path): \(String(cString: strerror(errno)))")
            }
            chmod(path, mode_t(mode))
        }
    }

    /// Prepares an SQLite database file before SQLite opens it: its folder exists (0700 if new), the file
    /// exists with mode 0600 (SQLite gives its `-wal` and `-shm` files the database file's mode), and a
    /// database or side file that an older version left readable by others is narrowed to 0600.
    public static func prepareDatabase(path: String) throws(KirokuError) {
        try createDirectory(URL(filePath: path).deletingLastPathComponent())
        let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw KirokuError(.configuration, "cannot create \(path): \(String(cString: strerror(errno)))")
        }
        close(fd)
        for file in [path, path + "-wal", path + "-shm"] {
            var info = stat()
            if stat(file, &info) == 0, info.st_mode & 0o077 != 0 {
                chmod(file, 0o600)
            }
        }
    }

    /// The size of the file at `path`, following symbolic links (a link to a volume that is not mounted is no
    /// file); nil when there is none. Anything else that stops `stat` is thrown, saying what.
    public static func size(of path: String) throws(KirokuError) -> Int64? {
        var info = stat()
        guard stat(path, &info) == 0 else {
            if errno == ENOENT { return nil }
            throw KirokuError(
                .configuration,
                "cannot tell what is at \(path): \(String(cString: strerror(errno))); check the path and that the service's user may read it"
            )
        }
        return Int64(info.st_size)
    }

    /// Refuses a private key that others may read (group or world bits set), as ssh does, naming the fix.
    public static func checkPrivateKey(_ path: String, what: String) throws(KirokuError) {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw KirokuError(.configuration, "\(what) \(path) cannot be read: \(String(cString: strerror(errno)))")
        }
        guard info.st_mode & 0o077 == 0 else {
            throw KirokuError(
                .configuration,
                "\(what) \(path) may be read by others (mode \(String(info.st_mode & 0o777, radix: 8))); run 'chmod 600 \(path)' and keep it owned by the service's user"
            )
        }
    }
}
