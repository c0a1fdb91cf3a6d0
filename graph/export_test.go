package graph

// SetConvBlockBytes sets the size of the patch blocks convolutions build at a time, so that
// tests with tiny images exercise several blocks per worker, and returns the restore function.
func SetConvBlockBytes(n int) (restore func()) {
	old := convBlockBytes
	convBlockBytes = n
	return func() { convBlockBytes = old }
}

// SetAdjointDataGrad turns the adjoint-convolution route for convolutions' input gradients on
// or off and returns the restore function.
func SetAdjointDataGrad(on bool) (restore func()) {
	old := useAdjoint
	useAdjoint = on
	return func() { useAdjoint = old }
}

// SetDepthwiseDirect turns the direct depthwise loops on or off and returns the restore
// function.
func SetDepthwiseDirect(on bool) (restore func()) {
	old := useDepthwise
	useDepthwise = on
	return func() { useDepthwise = old }
}
