// swift-tools-version:6.1
import PackageDescription

// Numeric code is 50–150× slower unoptimised, and `swift test` builds debug:
// these targets are optimised in every configuration (see docs/DEVELOPING.md).
let optimised: [SwiftSetting] = [.unsafeFlags(["-O"], .when(configuration: .debug))]

let package = Package(
    name: "Dendrite",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "dtrain", targets: ["dtrain"]),
        .executable(name: "dtest", targets: ["dtest"]),
        .executable(name: "dzoo", targets: ["dzoo"]),
        .executable(name: "dserve", targets: ["dserve"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        // No traits: the default BinaryDelimitedStreams imports all of Foundation (with ICU), ~6 MB
        // resident in every command; Dendrite needs FoundationEssentials only.
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0", traits: []),
        // dserve only: `swift build --product dtrain` does not build these.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.8.0"),
    ],
    targets: [
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CLibYAML", pkgConfig: "yaml-0.1", providers: [.apt(["libyaml-dev"])]),
        .systemLibrary(name: "CSTBImage", pkgConfig: "stb", providers: [.apt(["libstb-dev"])]),
        .systemLibrary(name: "CLibDeflate", pkgConfig: "libdeflate", providers: [.apt(["libdeflate-dev"])]),
        .systemLibrary(name: "CLibArchive", pkgConfig: "libarchive", providers: [.apt(["libarchive-dev"])]),
        .systemLibrary(name: "CLibFuzzer"),  // a declaration only; scripts/fuzz links libFuzzer

        // Dendrite's own small-GEMM kernels, C with intrinsics (picked at run time by CPU).
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O2"], .when(configuration: .debug))]),
        .target(name: "DCore", dependencies: ["COpenBLAS", "CKernels"], swiftSettings: optimised),
        .target(name: "DConfig", dependencies: ["CLibYAML"]),
        .target(name: "DData", dependencies: ["DCore", "CZlib", "CLibDeflate", "CSTBImage"], swiftSettings: optimised),
        .target(name: "DLayers", dependencies: ["DCore", "DConfig", "DData"], swiftSettings: optimised),
        .target(name: "DNet", dependencies: ["DCore", "DConfig", "DLayers"], swiftSettings: optimised),
        .target(name: "DZoo", dependencies: ["DCore", "DConfig", "DData", "DLayers", "DNet", "CZlib", "CLibArchive", .product(name: "Crypto", package: "swift-crypto")],
                swiftSettings: optimised),
        // Caffe import (and ONNX export): code generated from Proto/ by scripts/generate-protos.
        .target(name: "DInterop", dependencies: ["DCore", "DConfig", "DLayers", "DNet", "DZoo", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
                exclude: ["Proto"]),
        .target(name: "DSolvers", dependencies: ["DCore", "DConfig", "DNet", "DZoo"], swiftSettings: optimised),
        .target(name: "DCommands", dependencies: [
            "DCore", "DConfig", "DData", "DInterop", "DNet", "DSolvers", "DZoo", "CSTBImage",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "dtrain", dependencies: ["DCommands"]),
        .executableTarget(name: "dtest", dependencies: ["DCommands"]),
        .executableTarget(name: "dzoo", dependencies: ["DCommands"]),
        // The HTTP server (Hummingbird 2): no other target depends on it.
        .target(name: "DServe", dependencies: [
            "DCommands", "DConfig", "DCore", "DNet", "DZoo",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "dserve", dependencies: ["DServe", "DCommands"]),
        // Fuzz targets for every parser (scripts/fuzz builds dfuzz with libFuzzer).
        .target(name: "DFuzz", dependencies: ["DCommands", "DConfig", "DData", "DInterop", "DSolvers", "DZoo"]),
        .executableTarget(name: "dfuzz", dependencies: ["CLibFuzzer", "DFuzz", "DZoo"]),

        .testTarget(name: "DCoreTests", dependencies: ["DCore"]),
        .testTarget(name: "DConfigTests", dependencies: ["DConfig"]),
        .testTarget(name: "DDataTests", dependencies: ["DData", "CZlib", "CSTBImage"]),
        .testTarget(name: "DLayersTests", dependencies: ["DLayers", "DNet"]),
        .testTarget(name: "DNetTests", dependencies: ["DNet"]),
        .testTarget(name: "DSolversTests", dependencies: ["DSolvers"]),
        .testTarget(name: "DZooTests", dependencies: ["DZoo", "DConfig", "DCore", "DData", "DLayers", "DNet"]),
        .testTarget(name: "DFuzzTests", dependencies: ["DFuzz"]),
        .testTarget(name: "DServeTests", dependencies: ["DServe", "DCommands", "DZoo", "CSTBImage", "dserve", .product(name: "Hummingbird", package: "hummingbird"), .product(name: "HummingbirdTesting", package: "hummingbird")]),
        .testTarget(name: "DCommandsTests", dependencies: ["DCommands", "DData", "DInterop", "DZoo", "CSTBImage", "dtrain", "dtest", "dzoo"]),
    ]
)
