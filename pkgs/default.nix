# overlays.default: tidings, the Python packages it needs that nixpkgs lacks, and
# the bundled model. Python packages go through pythonPackagesExtensions so that
# every python3Packages (and `python3.withPackages`) sees them.
final: prev: {
  pythonPackagesExtensions = prev.pythonPackagesExtensions ++ [
    (pyfinal: _pyprev: {
      pysasl = pyfinal.callPackage ./pysasl { };
      proxy-protocol = pyfinal.callPackage ./proxy-protocol { };
      pymap = pyfinal.callPackage ./pymap { };
    })
  ];

  tidings = final.callPackage ./tidings { };
  tidings-model-gemma3-270m = final.callPackage ./gemma3-270m { };
}
