// Package rop computes exact Hessian-vector products of an lwca network's mean softmax
// cross-entropy on one batch by Pearlmutter's R-operator (forward-over-reverse): a forward
// and a backward pass at θ, then for each direction v a tangent pass (the directional
// derivative R{·} = d/dt|₀ of every activation at θ + t·v) and a backward pass of the tangents
// of the gradients, which ends in R{∇L} = H v. Each layer type supplies the derivative of its
// own forward and backward formulas; the result is the Hessian that autodiff's double backprop
// would give, exact up to rounding, with no step to choose.
//
//	p, err := rop.Compile[float32](net, store, n, dim)   // rop.ErrUnsupported: a layer lacks it
//	err = p.Prepare(x, y)                                  // forward and backward at the store's θ
//	err = p.HVP(params, dst, v)                            // dst = H_SS v over the params S
//
// The function is the training step's: BatchNorm normalises with the batch's statistics (train
// mode, the samples interact) and the running statistics are left alone. At a rectifier's kink
// (an input exactly 0) the product is that of the smooth piece on which the unit is off, like
// the backward pass's own gradient convention.
//
// The layers with an R-operator: Linear, Conv2d (ungrouped), BatchNorm, ReLU, LeakyReLU, Tanh,
// Sigmoid, Identity, MaxPool2d, AvgPool2d, GlobalAvgPool, Residual, ShortcutA, Flatten and
// Image, in any nesting of Sequential. Networks with other layers (dropout, GELU, group or
// layer normalisation, grouped convolutions) are refused with ErrUnsupported.
//
// T is the arithmetic's precision: float64 gives products accurate to about 1e-13 relative,
// float32 to about 1e-6 at half the memory traffic and twice the matrix-product speed.
package rop
