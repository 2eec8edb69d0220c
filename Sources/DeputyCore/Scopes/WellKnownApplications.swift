/// Application ids Microsoft assigns to its own first-party apps, the same in every tenant
/// (Microsoft Learn, "Verify first-party Microsoft applications in sign-in reports").
public enum WellKnownApplications {
    /// Microsoft Graph (`https://graph.microsoft.com`): the authority serves Graph's sign-in log,
    /// Conditional Access and What-If APIs for it.
    public static let microsoftGraph = "00000003-0000-0000-c000-000000000000"
}
