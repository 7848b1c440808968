import GuestImage

/// The scripts mmlab knows by name: the shipped ones (Images/scripts) and the
/// generated stress. `mmlab validate --scenario NAME` and the conformance
/// suite's `mm` families run them.
public enum ScriptLibrary {
  /// Random calls in the generated stress (the compiled scenario ran 4,000).
  public static let stressSteps = 4000

  /// Every name, sorted, stress last.
  public static var names: [String] { GuestImage.shippedScripts.keys.sorted() + ["stress"] }

  /// The script text of `name` (`seed` for the stress), nil for an unknown name.
  public static func text(_ name: String, seed: UInt64 = 1) -> String? {
    if name == "stress" { return StressGenerator(seed: seed, steps: stressSteps).script() }
    return GuestImage.shippedScripts[name]
  }
}
