// Package layers turns declared networks into graph layers: the registry of layer types that
// a config's model.layers names, and the builder that infers every layer's input shape from
// the one before it.
//
// A network is a list of Specs: a registered type, a name and the type's options. Structural
// types (sequential, repeat, residual) hold lists of Specs themselves, and prefix the names
// of what they hold, so that records read stage2.block3.conv1:
//
//	model:
//	  layers:
//	    - {type: conv2d, name: conv1, out: 16, bias: false}
//	    - {type: batchnorm, name: bn1}
//	    - relu
//	    - type: repeat
//	      name: block
//	      n: 3
//	      layers:
//	        - type: residual
//	          body:
//	            - {type: conv2d, name: conv1, out: 16, bias: false}
//	            - {type: batchnorm, name: bn1}
//	            - relu
//	            - {type: conv2d, name: conv2, out: 16, bias: false}
//	            - {type: batchnorm, name: bn2}
//	        - relu
//	    - global_avgpool
//	    - {type: linear, name: fc, out: 10}
//
// A new layer type is a graph.Layer plus a registration:
//
//	type WSConvOptions struct {
//		Out    int `yaml:"out"`
//		Kernel int `yaml:"kernel"`
//	}
//
//	func init() {
//		layers.Register("wsconv2d", layers.Define(WSConvOptions{Kernel: 3}, layers.Named,
//			func(ctx *layers.Context, o WSConvOptions) (graph.Layer, layers.Shape, error) {
//				h, w, c, err := ctx.In.Image()
//				...
//			}))
//	}
//
// Shapes are per sample and channels-last: (d) for features, (H, W, C) for images. A network
// fed images starts with a graph.Image view of its input rows; flatten turns images back into
// features.
package layers
