package config_test

import (
	"fmt"

	"github.com/lwca/lwca/experiments/config"
)

func ExampleParse() {
	src := []byte(`
data:
  dataset: mnist
model:
  norm: batchnorm
`)
	cfg, err := config.Parse("mnist_mlp_bn.yaml", src, []string{"analysis.p=[0.5, 1]", "optim.lr=0.05"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Name, cfg.Data.Dataset, cfg.Model.Norm, cfg.Model.Depth, cfg.Optim.LR, cfg.Analysis.P)
	// Output:
	// mnist_mlp_bn mnist batchnorm 4 0.05 [0.5 1]
}

func ExampleParse_errors() {
	src := []byte(`
data:
  dataset: mnst
  batchsize: 64
model:
  depth: 2.5
optim:
  lr: -0.1
`)
	_, err := config.Parse("bad.yaml", src, []string{"analysis.p=[0.5, 2]"})
	fmt.Println(err)
	// Output:
	// bad.yaml:3: data.dataset: unknown value "mnst"; valid values: mnist, fashion-mnist, synthetic, cifar10, imagefolder
	// bad.yaml:4: data.batchsize: unknown key; valid keys in data: dataset, path, batch_size, eval_batch_size, normalize, shuffle, train_limit, test_limit, synthetic, augment
	// bad.yaml:6: model.depth: expected an integer, got number "2.5"
	// bad.yaml:8: optim.lr: must be a finite number > 0, got -0.1
	// --set analysis.p=[0.5, 2]: analysis.p[1]: must be in (0, 1], got 2
}

func ExampleConfig_Marshal() {
	cfg := config.Default()
	cfg.Name = "demo"
	cfg.Data.Dataset = config.DatasetSynthetic
	b, err := cfg.Marshal()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(string(b))
	// Output:
	// name: demo
	// seed: 1
	// data:
	//   dataset: synthetic
	//   path: ""
	//   batch_size: 128
	//   eval_batch_size: 1000
	//   normalize: standard
	//   shuffle: true
	//   train_limit: 0
	//   test_limit: 0
	//   synthetic:
	//     classes: 10
	//     dim: 32
	//     train: 2048
	//     test: 512
	//     separation: 3
	//     noise: 1
	//   augment:
	//     crop_pad: 0
	//     flip: false
	// model:
	//   arch: mlp
	//   depth: 4
	//   width: 256
	//   activation: relu
	//   norm: none
	//   bn_placement: before
	//   bias: true
	//   init: he
	//   bn_momentum: 0.1
	//   bn_eps: 1e-05
	//   form: original
	//   shortcut: A
	//   widths: [16, 32, 64]
	//   channels: [32, 32, 64, 64]
	//   pool_every: 2
	// optim:
	//   type: sgd
	//   lr: 0.1
	//   momentum: 0.9
	//   nesterov: false
	//   weight_decay: 0
	//   schedule:
	//     type: constant
	//     milestones: []
	//     gamma: 0.1
	//     warmup_steps: 0
	//     warmup_lr: 0.01
	// train:
	//   epochs: 10
	//   steps: 0
	//   dtype: float32
	//   log_every: 50
	//   checkpoint_every: 500
	// analysis:
	//   every: 100
	//   p: [0.2, 0.5, 0.8, 1]
	//   layers: []
	//   fisher: empirical
	//   source: window
	//   window: 0
	//   batch_size: 4096
	//   batches: 8
	//   chunk_size: 0
	//   centered: false
	//   append_bias: false
	//   fidelity_max_params: 20000
	//   concurrent: true
	//   spectra: true
	//   save_weights_every: 0
	//   conv_mode: patches
}

func ExampleConfig_Override() {
	base := config.Default()
	base.Name = "mnist"
	base.Data.Dataset = config.DatasetMNIST
	for _, norm := range []string{"none", "batchnorm"} {
		cfg, err := base.Override("model.norm=" + norm)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(cfg.Model.Norm)
	}
	// Output:
	// none
	// batchnorm
}
