package recorder

// SetTestOnlyBeforeWrite sets a hook run on a camera's writer before each
// frame is written, and returns a function that removes it.
func SetTestOnlyBeforeWrite(f func(camera string)) (restore func()) {
	testOnlyBeforeWrite = f
	return func() { testOnlyBeforeWrite = nil }
}
