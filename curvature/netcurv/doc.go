// Package netcurv provides the exact curvature matrices of a network on one analysis batch as
// matrix-free operators for package curvature: the empirical Fisher, the generalised
// Gauss-Newton and the Hessian of the mean softmax cross-entropy
//
//	L(θ) = (1/N) Σᵢ ℓᵢ,  ℓᵢ = −log softmax(zᵢ)_{yᵢ},  z = f(X; θ) (N × C logits),
//
// restricted to a chosen set of parameters S (one layer's weight, several, or all): each
// operator is the principal block M_SS, acting on the concatenation of the selected
// parameters' values (row-major, in selection order).
//
//	m, _ := netcurv.New(net, store, x, y, dim)      // store: graph.NewStore(tensor.Float64, …)
//	s, _ := m.Weights("fc1")                         // or m.Select() for every parameter
//	h, _ := m.Hessian(s, netcurv.Options{})
//	top, _ := curvature.Lanczos(h, curvature.LanczosOptions{K: 5})
//
// The function differentiated is the training step's: BatchNorm normalises with the batch's
// statistics (train mode) and the samples interact through it; running statistics are frozen
// (the programs are built like train.NewProbe) and dropout uses the mask of the next training
// step. Products perturb the parameters in place and restore them bit for bit before they
// return, so nothing else may run on the same store meanwhile.
//
// The Hessian product is exact (package rop's R-operator) where every layer of the network has
// one, and a central difference of gradients otherwise (see [Options]).
//
// The store must hold float64 values: the finite differences' error bounds assume float64
// rounding.
package netcurv
