// Package experiments turns a YAML experiment config into a run directory: it loads the data,
// builds the network, trains it, analyses its layer-wise conditioning on schedule and writes
// every result atomically.
//
//	cfg, err := config.Load("configs/mnist_mlp_bn.yaml", []string{"train.steps=200"})
//	summary, err := experiments.Run(ctx, cfg, "runs/mnist_mlp_bn", experiments.Options{})
//
// A run directory holds (package rundir defines the format; readers use it):
//
//	config.yaml          the resolved config (every default filled in)
//	metrics.jsonl        one "train" record per step, one "test" record per epoch
//	conditioning.jsonl   one record per analysis step, layer and factor (x, grad, fisher; and
//	                     curvature when analysis.curvature is on)
//	summary.json         status (running, completed, diverged, failed), final figures, timing
package experiments
