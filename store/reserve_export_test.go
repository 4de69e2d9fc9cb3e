package store

// SetFullDiskRetryForTest turns off (false) or on again deleteOnFullDisk's
// second attempts, so that a test can show a batch failing on a full disk as
// it did before the reserve.
func SetFullDiskRetryForTest(on bool) { testOnlyNoFullDiskRetry = !on }
