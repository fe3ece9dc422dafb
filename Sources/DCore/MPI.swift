#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where this process stands in a job that `mpirun` started, read from Open MPI's environment
/// (`OMPI_COMM_WORLD_SIZE`, …): nil for a plain run, which never touches MPI.
public struct MPILaunch: Sendable, Equatable {
    public var rank: Int
    public var size: Int
    /// Ranks on this machine (what the cores are shared between).
    public var localSize: Int

    public init(rank: Int, size: Int, localSize: Int) {
        self.rank = rank; self.size = size; self.localSize = localSize
    }

    /// This process's environment.
    public static func fromEnvironment() -> MPILaunch? {
        var env: [String: String] = [:]
        for key in ["OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE"] {
            if let v = getenv(key) { env[key] = String(cString: v) }
        }
        return from(environment: env)
    }

    public static func from(environment env: [String: String]) -> MPILaunch? {
        guard let size = env["OMPI_COMM_WORLD_SIZE"].flatMap({ Int($0) }), size >= 1 else { return nil }
        return MPILaunch(rank: env["OMPI_COMM_WORLD_RANK"].flatMap { Int($0) } ?? 0, size: size,
                         localSize: env["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap { Int($0) } ?? size)
    }
}

public struct MPIError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var hint: String?
    public init(_ message: String, hint: String? = nil) { self.message = message; self.hint = hint }
    public var description: String { "error: \(message)" + (hint.map { "\nhint: \($0)" } ?? "") }
}

/// MPI_COMM_WORLD of Open MPI, reached through `dlopen`: Dendrite builds and runs without MPI
/// installed, and loads `libmpi.so.40` only when `mpirun` started it. The handles (the world
/// communicator, MPI_FLOAT, MPI_SUM) are the addresses of Open MPI's predefined objects, so
/// this speaks Open MPI's ABI, not MPICH's.
///
/// Every call is made from the thread that opened it (MPI_THREAD_FUNNELED), and errors are
/// returned (MPI_ERRORS_RETURN) and thrown rather than aborting inside the library.
public final class MPICommunicator: @unchecked Sendable {
    public let rank: Int
    public let size: Int

    typealias Handle = UnsafeMutableRawPointer
    typealias Request = UnsafeMutableRawPointer?

    private let world: Handle, float: Handle, double: Handle, sum: Handle
    private let allreduceFn: @convention(c) (UnsafeRawPointer?, UnsafeMutableRawPointer?, Int32, Handle, Handle, Handle) -> Int32
    private let iallreduceFn: @convention(c) (UnsafeRawPointer?, UnsafeMutableRawPointer?, Int32, Handle, Handle, Handle, UnsafeMutablePointer<Request>) -> Int32
    private let testallFn: @convention(c) (Int32, UnsafeMutablePointer<Request>, UnsafeMutablePointer<Int32>, UnsafeMutableRawPointer?) -> Int32
    private let waitallFn: @convention(c) (Int32, UnsafeMutablePointer<Request>, UnsafeMutableRawPointer?) -> Int32
    private let bcastFn: @convention(c) (UnsafeMutableRawPointer?, Int32, Handle, Int32, Handle) -> Int32
    private let errorStringFn: @convention(c) (Int32, UnsafeMutablePointer<CChar>, UnsafeMutablePointer<Int32>) -> Int32
    private let finalizeFn: @convention(c) () -> Int32
    private let abortFn: @convention(c) (Handle, Int32) -> Int32
    private var finalized = false

    /// Open MPI's MPI_IN_PLACE: `(void *) 1`.
    private static var inPlace: UnsafeRawPointer? { UnsafeRawPointer(bitPattern: 1) }
    static let libraryNames = ["libmpi.so.40", "libmpi.so"]

    /// Loads Open MPI and calls MPI_Init_thread.
    public init() throws(MPIError) {
        // RTLD_GLOBAL: Open MPI's own plugins, loaded later, look for libmpi's symbols.
        var reasons: [String] = [], loaded: (handle: UnsafeMutableRawPointer, name: String)?
        for name in Self.libraryNames where loaded == nil {
            if let handle = dlopen(name, RTLD_NOW | RTLD_GLOBAL) {
                loaded = (handle, name)
            } else {
                reasons.append(dlerror().map { String(cString: $0) } ?? "\(name): not found")
            }
        }
        guard let (lib, libraryName) = loaded else {
            throw MPIError("dtrain was started by mpirun, but Open MPI's library could not be loaded: \(reasons.joined(separator: "; "))",
                           hint: "install Open MPI (scripts/bootstrap --mpi installs openmpi-bin and libopenmpi-dev), or run dtrain without mpirun")
        }
        func symbol(_ name: String) throws(MPIError) -> UnsafeMutableRawPointer {
            guard let p = dlsym(lib, name) else {
                throw MPIError("\(libraryName) has no symbol \(name): it is not Open MPI 4 or later",
                               hint: "Dendrite speaks Open MPI's ABI; launch it with Open MPI's mpirun")
            }
            return p
        }
        func function<F>(_ name: String, as: F.Type) throws(MPIError) -> F { unsafeBitCast(try symbol(name), to: F.self) }
        world = try symbol("ompi_mpi_comm_world")
        float = try symbol("ompi_mpi_float")
        double = try symbol("ompi_mpi_double")
        sum = try symbol("ompi_mpi_op_sum")
        allreduceFn = try function("MPI_Allreduce", as: type(of: allreduceFn))
        iallreduceFn = try function("MPI_Iallreduce", as: type(of: iallreduceFn))
        testallFn = try function("MPI_Testall", as: type(of: testallFn))
        waitallFn = try function("MPI_Waitall", as: type(of: waitallFn))
        bcastFn = try function("MPI_Bcast", as: type(of: bcastFn))
        errorStringFn = try function("MPI_Error_string", as: type(of: errorStringFn))
        finalizeFn = try function("MPI_Finalize", as: type(of: finalizeFn))
        abortFn = try function("MPI_Abort", as: type(of: abortFn))
        let initThread = try function("MPI_Init_thread", as: (@convention(c) (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?, Int32, UnsafeMutablePointer<Int32>) -> Int32).self)
        let commRank = try function("MPI_Comm_rank", as: (@convention(c) (Handle, UnsafeMutablePointer<Int32>) -> Int32).self)
        let commSize = try function("MPI_Comm_size", as: (@convention(c) (Handle, UnsafeMutablePointer<Int32>) -> Int32).self)
        let setErrhandler = try function("MPI_Comm_set_errhandler", as: (@convention(c) (Handle, Handle) -> Int32).self)
        let errorsReturn = try symbol("ompi_mpi_errors_return")
        var provided: Int32 = 0, r: Int32 = 0, s: Int32 = 0
        let funneled: Int32 = 1  // MPI_THREAD_FUNNELED in Open MPI
        guard initThread(nil, nil, funneled, &provided) == 0 else { throw MPIError("MPI_Init_thread failed") }
        guard setErrhandler(world, errorsReturn) == 0 else { throw MPIError("MPI_Comm_set_errhandler failed") }
        guard commRank(world, &r) == 0, commSize(world, &s) == 0 else { throw MPIError("MPI_Comm_rank or MPI_Comm_size failed") }
        rank = Int(r)
        size = Int(s)
    }

    /// MPI counts are C ints.
    private static func count(_ n: Int) throws(MPIError) -> Int32 {
        guard let c = Int32(exactly: n) else {
            throw MPIError("\(n) values in one MPI call, more than a C int counts", hint: "lower --bucket-mib; a single tensor of 2³¹ values or more cannot be sent")
        }
        return c
    }

    private func check(_ code: Int32, _ what: String) throws(MPIError) {
        guard code != 0 else { return }
        var text = [CChar](repeating: 0, count: 512), length: Int32 = 0
        _ = errorStringFn(code, &text, &length)
        let reason = String(decoding: text.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        throw MPIError("\(what) failed: \(reason) (MPI error \(code))",
                       hint: "another rank has most probably died; see its error above")
    }

    /// x ← Σ over ranks of x, in place.
    public func allreduceSum(_ x: inout [Double]) throws(MPIError) {
        let count = try Self.count(x.count)
        let code = x.withUnsafeMutableBufferPointer { allreduceFn(Self.inPlace, $0.baseAddress, count, double, sum, world) }
        try check(code, "MPI_Allreduce")
    }

    /// The sum over ranks of `count` floats of `buffer` from `offset`, in place, started
    /// (MPI_Iallreduce): that range must not be touched until `waitAll` has returned.
    public func startAllreduceSum(_ buffer: AllreduceBuffer, offset: Int, count: Int) throws(MPIError) -> MPIRequest {
        precondition(offset >= 0 && offset + count <= buffer.count, "range outside the buffer")
        var request: Request = nil
        try check(iallreduceFn(Self.inPlace, buffer.base + offset, try Self.count(count), float, sum, world, &request), "MPI_Iallreduce")
        return MPIRequest(handle: request)
    }

    /// Lets started operations progress (Open MPI moves a non-blocking collective on only
    /// inside MPI calls).
    public func progress(_ requests: inout [MPIRequest]) throws(MPIError) {
        guard !requests.isEmpty else { return }
        var handles = requests.map(\.handle), done: Int32 = 0
        try check(testallFn(Int32(handles.count), &handles, &done, nil), "MPI_Testall")
        requests = handles.map(MPIRequest.init)
    }

    public func waitAll(_ requests: inout [MPIRequest]) throws(MPIError) {
        guard !requests.isEmpty else { return }
        var handles = requests.map(\.handle)
        try check(waitallFn(Int32(handles.count), &handles, nil), "MPI_Waitall")
        requests = []
    }

    /// x ← rank 0's x.
    public func broadcast(_ x: FloatView) throws(MPIError) {
        try check(bcastFn(x.base, try Self.count(x.count), float, 0, world), "MPI_Bcast")
    }

    /// Ends MPI after a successful run (every rank calls it).
    public func finalize() {
        guard !finalized else { return }
        finalized = true
        _ = finalizeFn()
    }

    /// Ends every rank of the job now, after an error on this one: the others may be waiting
    /// in a collective that this rank will never join.
    public func abort(code: Int32) -> Never {
        _ = abortFn(world, code)
        exit(code)
    }
}

/// A started non-blocking operation (Open MPI's `MPI_Request`).
public struct MPIRequest: @unchecked Sendable {
    let handle: UnsafeMutableRawPointer?
}

/// Where gradients are gathered for the allreduce: each bucket a range, packed from the
/// parameters' gradients and unpacked back into them.
public final class AllreduceBuffer: @unchecked Sendable {
    public let count: Int
    let base: UnsafeMutablePointer<Float>

    public init(count: Int) {
        self.count = count
        base = .allocate(capacity: max(count, 1))
    }

    deinit { base.deallocate() }

    /// Copies `views` one after the other into the buffer from `offset`.
    public func pack(_ views: [FloatView], at offset: Int) {
        var at = offset
        for v in views {
            precondition(at + v.count <= count, "bucket outside the buffer")
            (base + at).update(from: v.base, count: v.count)
            at += v.count
        }
    }

    /// The reverse of `pack`, times `scale`.
    public func unpack(into views: [FloatView], at offset: Int, scale: Float) {
        var at = offset
        for v in views {
            precondition(at + v.count <= count, "bucket outside the buffer")
            let source = base + at, target = v.base
            for k in 0..<v.count { target[k] = source[k] * scale }
            at += v.count
        }
    }
}
