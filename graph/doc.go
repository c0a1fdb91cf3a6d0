// Package graph holds lwca's layer building blocks over Gorgonia expression graphs.
//
// A network is a list of Layers. Each Layer adds its nodes to a graph through a Builder, which
// owns the graph, the shared parameter Store and the hook points. The same layers are built
// twice: once into a training graph (batch statistics, hook taps, gradients) and once into an
// evaluation graph (running statistics, forward only); both bind the same parameter tensors, so
// they never drift apart.
//
//	store := graph.NewStore(tensor.Float32, 1)          // dtype, initialisation seed
//	b := graph.NewBuilder(graph.NewExprGraph(), store, graph.Train, 128)
//	x := b.Input("x", 128, 784)
//	net := graph.Sequential{graph.NewLinear("fc1", 784, 256), graph.ReLU, graph.NewLinear("fc2", 256, 10)}
//	logits, err := net.Forward(b, x)
//
// Weighted layers form an explicit 2-D product h = x·W and wrap x and h in hook taps
// (Builder.TapInput, Builder.TapOutput): that is all a new weighted layer type needs to do to
// be analysed. A layer built as one fused op (Conv2d) hands the same matrices over from inside
// the op with hooks.CaptureInput and hooks.CaptureOutputGrad, which the taps use too. Layers
// written outside this package use exactly the same API.
//
// The layers: Linear and Conv2d (weighted; Conv2d grouped or depthwise through Groups),
// BatchNorm, GroupNorm, LayerNorm, MaxPool2d, AvgPool2d, GlobalAvgPool, Dropout, the
// Activations (ReLU, Tanh, Sigmoid, GELU, Identity) and LeakyReLU, Residual and ShortcutA,
// and the views Image and Flatten. Data are channels last: images are (N, H, W, C), and
// per-channel layers act on the last axis, so GroupNorm, LayerNorm, Dropout and the
// activations take feature matrices (N, C) as well. A weighted layer's hook point is named
// after the layer; a grouped Conv2d has one per group, <name>.g1 … <name>.g<Groups>.
//
// Sequential fuses a BatchNorm or a Residual directly followed by ReLU into one op that makes
// fewer passes over the activations and gives the same bits; the hooks see the same inputs
// and gradients either way.
package graph
