package graph

// SetConvBlockBytes sets the size of the patch blocks convolutions build at a time, so that
// tests with tiny images exercise several blocks per worker, and returns the restore function.
func SetConvBlockBytes(n int) (restore func()) {
	old := convBlockBytes
	convBlockBytes = n
	return func() { convBlockBytes = old }
}
