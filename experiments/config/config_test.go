package config

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/lwca/lwca/optim"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/lwca/lwca/data"
)

// lineOf returns the 1-based number of the first line of src containing
// needle.
func lineOf(t *testing.T, src, needle string) int {
	t.Helper()
	for i, l := range strings.Split(src, "\n") {
		if strings.Contains(l, needle) {
			return i + 1
		}
	}
	t.Fatalf("%q not in source", needle)
	return 0
}

// mustFail parses src and returns the resulting *Error, failing the test if
// there is none.
func mustFail(t *testing.T, name, src string, overrides ...string) *Error {
	t.Helper()
	c, err := Parse(name, []byte(src), overrides)
	if err == nil {
		t.Fatalf("Parse succeeded, want an error; got %+v", c)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is a %T, want *Error", err, err)
	}
	if !reflect.DeepEqual(c, Config{}) {
		t.Errorf("Parse returned a non-zero Config with an error")
	}
	if n := strings.Count(e.Error(), "\n") + 1; n != len(e.Problems) {
		t.Errorf("message has %d lines for %d problems:\n%s", n, len(e.Problems), e)
	}
	return e
}

// wantLine checks that the message of e has a line starting with
// "pos: field: " and containing every one of parts.
func wantLine(t *testing.T, e *Error, pos, field string, parts ...string) {
	t.Helper()
	prefix := pos + ": "
	if field != "" {
		prefix += field + ": "
	}
lines:
	for _, l := range strings.Split(e.Error(), "\n") {
		if !strings.HasPrefix(l, prefix) {
			continue
		}
		for _, p := range parts {
			if !strings.Contains(l, p) {
				continue lines
			}
		}
		return
	}
	t.Errorf("no line %q... containing %q in:\n%s", prefix, parts, e)
}

func at(file string, line int) string { return file + ":" + strconv.Itoa(line) }

func TestDefaultMatchesSchema(t *testing.T) {
	// testdata/defaults.yaml spells out the documented schema.
	got, err := Load("testdata/defaults.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Name = "defaults"
	want.Data.Dataset = DatasetMNIST
	// The file's "milestones: []" and "layers: []" read back as nil.
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Default() differs from the documented schema:\n got %+v\nwant %+v", got, want)
	}

	// Default alone lacks only a name and the data set.
	err = Default().Validate()
	var e *Error
	if !errors.As(err, &e) || len(e.Problems) != 2 || e.Problems[0].Field != "name" || e.Problems[1].Field != "data.dataset" {
		t.Fatalf("Default().Validate() = %v, want only name and data.dataset problems", err)
	}
	if e.Problems[0].Pos != "" {
		t.Errorf("Validate gave a position %q", e.Problems[0].Pos)
	}
	for _, ds := range []string{DatasetMNIST, DatasetFashionMNIST, DatasetSynthetic} {
		c := Default()
		c.Name = "run"
		c.Data.Dataset = ds
		if err := c.Validate(); err != nil {
			t.Errorf("Default with dataset %s: %v", ds, err)
		}
	}
}

func TestMinimal(t *testing.T) {
	got, err := Load("testdata/minimal.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Name = "minimal"
	want.Data.Dataset = DatasetMNIST
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func fullConfig() Config {
	return Config{
		Name: "every field",
		Seed: 42,
		Data: DataConfig{
			Dataset:       DatasetSynthetic,
			Path:          absTestdata, // "." in testdata/full.yaml, relative to the file
			BatchSize:     64,
			EvalBatchSize: 500,
			Normalize:     NormalizeUnit,
			Shuffle:       false,
			TrainLimit:    1000,
			TestLimit:     200,
			Synthetic: SyntheticConfig{
				Classes: 3, Dim: 8, Train: 300, Test: 90, Separation: 2.5, Noise: 0.5,
			},
			Augment: AugmentConfig{CropPad: 2, Flip: true},
		},
		Model: ModelConfig{
			Arch:        ArchMLP,
			Depth:       6,
			Width:       100,
			Activation:  ActTanh,
			Norm:        NormBatchNorm,
			BNPlacement: BNAfter,
			Bias:        false,
			Init:        InitXavier,
			BNMomentum:  0.01,
			BNEps:       1e-3,
			Form:        FormLastBN,
			Shortcut:    ShortcutB,
			Widths:      []int{8, 16, 32},
			Channels:    []int{4, 8},
			PoolEvery:   1,
		},
		Optim: OptimConfig{
			Type:        "sgd",
			LR:          0.05,
			Options:     &optim.SGDOptions{Momentum: 0.5, Nesterov: true},
			WeightDecay: 5e-4,
			Schedule: ScheduleConfig{
				Type:        ScheduleMultistep,
				Milestones:  []int{3, 6},
				Gamma:       0.5,
				WarmupSteps: 20,
				WarmupLR:    0.001,
			},
		},
		Train: TrainConfig{Epochs: 8, Steps: 400, Dtype: DtypeFloat64, LogEvery: 10, CheckpointEvery: 100},
		Analysis: AnalysisConfig{
			Every:  25,
			P:      []float64{0.1, 0.9},
			Layers: []string{"fc1", "fc3"},
			Fisher: FisherTrue,
			Source: SourceFixed, Window: 5,
			BatchSize: 2000,
			Batches:   4, ChunkSize: 64,
			Centered:          true,
			FidelityMaxParams: 5000,
			Concurrent:        false,
			SaveWeightsEvery:  50,
			ConvMode:          ConvChannels,
			Curvature: CurvatureConfig{Preset: CurvatureBlocks, Every: 50, BatchSize: 256, TopK: 2,
				MaxIter: 40, Tol: 1e-5, Probes: 4, Nodes: 20, Verify: true},
		},
	}
}

// equalLeaves lists the leaf fields (by dotted yaml path) where a and b are
// equal.
func equalLeaves(a, b reflect.Value, path string) []string {
	if a.Kind() == reflect.Struct {
		var eq []string
		for i := range a.NumField() {
			k := yamlKey(a.Type().Field(i))
			if k == "" {
				continue // an entry's own options: tested with their entry
			}
			eq = append(eq, equalLeaves(a.Field(i), b.Field(i), join(path, k))...)
		}
		return eq
	}
	if reflect.DeepEqual(a.Interface(), b.Interface()) {
		return []string{path}
	}
	return nil
}

func TestFull(t *testing.T) {
	got, err := Load("testdata/full.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := fullConfig()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	// The fixture must exercise every field: a field added to the schema
	// without being added here shows up as equal to its default. Arch has
	// another meaning here (and layers go with arch layers, tested apart), the sgd type is the
	// one whose options the file sets, and append_bias cannot be set together with centered.
	eq := equalLeaves(reflect.ValueOf(got), reflect.ValueOf(Default()), "")
	if !slices.Equal(eq, []string{"model.arch", "model.layers", "optim.type", "analysis.append_bias"}) {
		t.Errorf("fields of testdata/full.yaml equal to their default: %v", eq)
	}
}

// randomConfig returns a valid configuration with random values.
func randomConfig(r *rand.Rand) Config {
	pick := func(s ...string) string { return s[r.IntN(len(s))] }
	c := Default()
	c.Name = pick("x", "a: b", "#hash", "123", "true", "null", "with space", "ünïcode", " lead", "- dash", "'q'", "s:lr=0.1,seed=1")
	c.Seed = r.Uint64()
	c.Data.Dataset = pick(DatasetMNIST, DatasetFashionMNIST, DatasetSynthetic)
	c.Data.Path = pick("", absTestdata, filepath.Dir(absTestdata))
	c.Data.BatchSize = 1 + r.IntN(1000)
	c.Data.EvalBatchSize = 1 + r.IntN(1000)
	c.Data.Normalize = pick(NormalizeNone, NormalizeUnit, NormalizeStandard)
	c.Data.Shuffle = r.IntN(2) == 0
	c.Data.TrainLimit = r.IntN(3) * r.IntN(60000)
	c.Data.TestLimit = r.IntN(10000)
	c.Data.Synthetic = SyntheticConfig{
		Classes: 2 + r.IntN(20), Dim: 1 + r.IntN(100), Train: 1 + r.IntN(5000), Test: 1 + r.IntN(500),
		Separation: r.Float64() * 10, Noise: r.ExpFloat64(),
	}
	c.Model.Depth = 1 + r.IntN(20)
	c.Model.Width = 1 + r.IntN(2048)
	c.Model.Activation = pick(ActReLU, ActTanh, ActSigmoid, ActIdentity)
	c.Model.Norm = pick(NormNone, NormBatchNorm)
	c.Model.BNPlacement = pick(BNBefore, BNAfter)
	c.Model.Bias = r.IntN(2) == 0
	c.Model.Init = pick(InitHe, InitXavier)
	c.Model.BNMomentum = 1 - r.Float64() // (0, 1]
	c.Model.BNEps = r.Float64()*1e-3 + 1e-12
	c.Optim.LR = r.ExpFloat64() + 1e-9
	switch c.Optim.Type = pick("sgd", "adam", "adamw"); c.Optim.Type {
	case "sgd":
		m := r.Float64()
		c.Optim.Options = &optim.SGDOptions{Momentum: m, Nesterov: m > 0 && r.IntN(2) == 0}
	default:
		c.Optim.Options = &optim.AdamOptions{Beta1: r.Float64(), Beta2: r.Float64(), Eps: r.ExpFloat64() * 1e-8}
	}
	c.Optim.WeightDecay = r.Float64() * 1e-3
	c.Optim.Schedule.Type = pick(ScheduleConstant, ScheduleMultistep)
	c.Optim.Schedule.Milestones = nil
	for e, n := 0, r.IntN(4); n > 0; n-- {
		e += 1 + r.IntN(50)
		c.Optim.Schedule.Milestones = append(c.Optim.Schedule.Milestones, e)
	}
	if c.Optim.Schedule.Type == ScheduleMultistep && len(c.Optim.Schedule.Milestones) == 0 {
		c.Optim.Schedule.Milestones = []int{1}
	}
	c.Optim.Schedule.Gamma = 1 - r.Float64()
	c.Optim.Schedule.WarmupSteps = r.IntN(1000)
	c.Optim.Schedule.WarmupLR = r.Float64() + 1e-9
	c.Train.Epochs = 1 + r.IntN(300)
	c.Train.Steps = r.IntN(10000)
	c.Train.Dtype = pick(DtypeFloat32, DtypeFloat64)
	c.Train.LogEvery = r.IntN(100)
	c.Analysis.Every = r.IntN(1000)
	c.Analysis.P = nil
	for i := range r.IntN(5) {
		c.Analysis.P = append(c.Analysis.P, float64(i+1)/5-r.Float64()/10)
	}
	c.Analysis.Layers = nil
	for i := range r.IntN(4) {
		c.Analysis.Layers = append(c.Analysis.Layers, "layer "+strconv.Itoa(i+1))
	}
	return c
}

func TestRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	dir := t.TempDir()
	cases := []Config{fullConfig()}
	for range 200 {
		cases = append(cases, randomConfig(r))
	}
	for i, c := range cases {
		if err := c.Validate(); err != nil {
			t.Fatalf("case %d: generated config is invalid: %v", i, err)
		}
		b, err := c.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		// A deep copy marshals to the same bytes.
		cp := c
		cp.Analysis.P = append([]float64(nil), c.Analysis.P...)
		b2, _ := cp.Marshal()
		if !bytes.Equal(b, b2) {
			t.Fatalf("case %d: Marshal is not deterministic:\n%s\n---\n%s", i, b, b2)
		}
		path := filepath.Join(dir, "rt.yaml")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := Load(path, nil)
		if err != nil {
			t.Fatalf("case %d: Load(Marshal(c)): %v\n%s", i, err, b)
		}
		if !reflect.DeepEqual(got, c) {
			t.Fatalf("case %d: Load(Marshal(c)) != c\n got %+v\nwant %+v\n%s", i, got, c, b)
		}
		b3, _ := got.Marshal()
		if !bytes.Equal(b, b3) {
			t.Fatalf("case %d: second Marshal differs", i)
		}
	}
}

func TestMarshalWritesEveryKey(t *testing.T) {
	c := Default()
	c.Data.Dataset = DatasetMNIST
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	src := string(b)
	// Every key path of the schema appears, at the indentation of its depth.
	var walk func(t reflect.Type, depth int)
	walk = func(typ reflect.Type, depth int) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			if yamlKey(f) == "" || strings.Contains(f.Tag.Get("yaml"), "omitempty") {
				continue // written by a MarshalYAML, or only when set
			}
			key := strings.Repeat("  ", depth) + yamlKey(f) + ":"
			if !strings.Contains(src, "\n"+key) && !strings.HasPrefix(src, key) {
				t.Errorf("Marshal output lacks %q:\n%s", key, src)
			}
			if f.Type.Kind() == reflect.Struct {
				walk(f.Type, depth+1)
			}
		}
	}
	walk(reflect.TypeOf(c), 0)
}

func TestUnknownKey(t *testing.T) {
	for _, tc := range []struct {
		src, needle, field, valid string
	}{
		{
			src:    "data:\n  dataset: mnist\nsweep:\n  x: 1\n",
			needle: "sweep:", field: "sweep",
			valid: "valid keys at top level: name, seed, data, model, optim, train, analysis",
		},
		{
			src:    "data:\n  dataset: mnist\n  batchsize: 3\n",
			needle: "batchsize", field: "data.batchsize",
			valid: "valid keys in data: dataset, path, batch_size, eval_batch_size, normalize, shuffle, train_limit, test_limit, synthetic",
		},
		{
			src:    "data:\n  dataset: mnist\n  synthetic:\n    dims: 3\n",
			needle: "dims", field: "data.synthetic.dims",
			valid: "valid keys in data.synthetic: classes, dim, train, test, separation, noise",
		},
		{
			src:    "data: {dataset: mnist}\noptim:\n  schedule:\n    type: constant\n    milestone: [1]\n",
			needle: "milestone:", field: "optim.schedule.milestone",
			valid: "valid keys in optim.schedule: type, milestones, gamma, warmup_steps, warmup_lr",
		},
		{
			src:    "data: {dataset: mnist}\nmodel: {depth: 3, normalization: batchnorm}\n",
			needle: "normalization", field: "model.normalization",
			valid: "valid keys in model: arch, depth, width, activation, norm, bn_placement, bias, init, bn_momentum, bn_eps",
		},
		{
			src:    "data: {dataset: mnist}\ntrain:\n  epoch: 3\n",
			needle: "epoch:", field: "train.epoch",
			valid: "valid keys in train: epochs, steps, dtype, log_every",
		},
		{
			src:    "data: {dataset: mnist}\nanalysis:\n  kappa: [1]\n",
			needle: "kappa", field: "analysis.kappa",
			valid: "valid keys in analysis: every, p, layers",
		},
	} {
		e := mustFail(t, "u.yaml", tc.src)
		if len(e.Problems) != 1 {
			t.Errorf("%q: got %d problems, want 1:\n%s", tc.src, len(e.Problems), e)
		}
		wantLine(t, e, at("u.yaml", lineOf(t, tc.src, tc.needle)), tc.field, "unknown key", tc.valid)
	}
}

func TestWrongType(t *testing.T) {
	for _, tc := range []struct {
		key, value, field, want, got string
	}{
		{"optim:\n  lr", "fast", "optim.lr", "expected a number", `string "fast"`},
		{"model:\n  depth", "2.5", "model.depth", "expected an integer", `number "2.5"`},
		{"model:\n  width", `"3"`, "model.width", "expected an integer", `string "3"`},
		{"data:\n  shuffle", "1", "data.shuffle", "expected true or false", `integer "1"`},
		{"seed", "-1", "seed", "expected a non-negative integer", `integer "-1"`},
		{"train:\n  epochs", "[1, 2]", "train.epochs", "expected an integer", "a list"},
		{"train:\n  steps", "", "train.steps", "expected an integer", "no value"},
		{"analysis:\n  p", "{a: 1}", "analysis.p", "expected a list of numbers", "a mapping"},
		{"analysis:\n  p", "[0.5, x]", "analysis.p[1]", "expected a number", `string "x"`},
		{"analysis:\n  layers", "[[a]]", "analysis.layers[0]", "expected a string", "a list"},
		{"optim:\n  schedule:\n    milestones", "[1, 2.5]", "optim.schedule.milestones[1]", "expected an integer", `number "2.5"`},
		{"model", "5", "model", "expected a mapping with keys arch, depth,", `integer "5"`},
		// Numbers too large to hold say so, not that they are not numbers.
		{"data:\n  batch_size", "99999999999999999999999", "data.batch_size", "99999999999999999999999 is out of range", "expected an integer from -9223372036854775808 to 9223372036854775807"},
		{"optim:\n  lr", "1e400", "optim.lr", "1e400 is out of range", "expected a number of magnitude at most 1.8e308"},
		{"optim:\n  lr", `"1e400"`, "optim.lr", "expected a number", `got string "1e400"`},
		{"seed", "18446744073709551616", "seed", "out of range", "expected an integer from 0 to 18446744073709551615"},
	} {
		src := "data:\n  dataset: mnist\n" + tc.key + ": " + tc.value + "\n"
		if strings.HasPrefix(tc.key, "data:\n") {
			src = "data:\n  dataset: mnist\n" + strings.TrimPrefix(tc.key, "data:\n") + ": " + tc.value + "\n"
		}
		e := mustFail(t, "w.yaml", src)
		if len(e.Problems) != 1 {
			t.Errorf("%q: got %d problems, want 1:\n%s", src, len(e.Problems), e)
		}
		lastKey := tc.key[strings.LastIndexAny(tc.key, " \n")+1:]
		got := tc.got
		if !strings.HasPrefix(got, "expected") && !strings.HasPrefix(got, "got") {
			got = "got " + got
		}
		wantLine(t, e, at("w.yaml", lineOf(t, src, lastKey+":")), tc.field, tc.want, got)
	}
}

func TestScalarAsList(t *testing.T) {
	c, err := Parse("s.yaml", []byte("data: {dataset: mnist}\nanalysis:\n  p: 0.5\n  layers: fc2\noptim:\n  schedule: {type: multistep, milestones: 7}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Analysis.P, []float64{0.5}) || !reflect.DeepEqual(c.Analysis.Layers, []string{"fc2"}) ||
		!reflect.DeepEqual(c.Optim.Schedule.Milestones, []int{7}) {
		t.Errorf("got p=%v layers=%v milestones=%v", c.Analysis.P, c.Analysis.Layers, c.Optim.Schedule.Milestones)
	}
}

func TestEmptyValues(t *testing.T) {
	// An empty section keeps its defaults; an empty list or string is empty.
	c, err := Parse("e.yaml", []byte("data:\n  dataset: mnist\n  path:\nmodel:\nanalysis:\n  p:\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Name = "e"
	want.Data.Dataset = DatasetMNIST
	want.Analysis.P = nil
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got %+v\nwant %+v", c, want)
	}
}

func TestRange(t *testing.T) {
	for _, tc := range []struct {
		key, value, field string
		want              []string
	}{
		{"data:\n  batch_size", "0", "data.batch_size", []string{"must be >= 1", "got 0"}},
		{"data:\n  eval_batch_size", "-5", "data.eval_batch_size", []string{"must be >= 1", "got -5"}},
		{"data:\n  train_limit", "-1", "data.train_limit", []string{"must be >= 0", "got -1"}},
		{"data:\n  test_limit", "-1", "data.test_limit", []string{"must be >= 0"}},
		{"data:\n  synthetic:\n    classes", "1", "data.synthetic.classes", []string{"must be >= 2", "got 1"}},
		{"data:\n  synthetic:\n    dim", "0", "data.synthetic.dim", []string{"must be >= 1"}},
		{"data:\n  synthetic:\n    train", "0", "data.synthetic.train", []string{"must be >= 1"}},
		{"data:\n  synthetic:\n    test", "0", "data.synthetic.test", []string{"must be >= 1"}},
		{"data:\n  synthetic:\n    separation", "-1", "data.synthetic.separation", []string{"finite number >= 0", "got -1"}},
		{"data:\n  synthetic:\n    noise", ".inf", "data.synthetic.noise", []string{"finite number >= 0", "got +Inf"}},
		{"model:\n  depth", "0", "model.depth", []string{"must be >= 1", "got 0"}},
		{"model:\n  width", "0", "model.width", []string{"must be >= 1"}},
		{"model:\n  bn_momentum", "0", "model.bn_momentum", []string{"in (0, 1]", "got 0"}},
		{"model:\n  bn_momentum", "1.5", "model.bn_momentum", []string{"in (0, 1]", "got 1.5"}},
		{"model:\n  bn_eps", "0", "model.bn_eps", []string{"finite number > 0"}},
		{"optim:\n  lr", "-0.1", "optim.lr", []string{"finite number > 0", "got -0.1"}},
		{"optim:\n  lr", "0", "optim.lr", []string{"finite number > 0", "got 0"}},
		{"optim:\n  lr", ".inf", "optim.lr", []string{"finite number > 0", "got +Inf"}},
		{"optim:\n  lr", ".nan", "optim.lr", []string{"finite number > 0", "got NaN"}},
		{"optim:\n  momentum", "1", "optim.momentum", []string{"in [0, 1)", "got 1"}},
		{"optim:\n  momentum", "-0.5", "optim.momentum", []string{"in [0, 1)"}},
		{"optim:\n  weight_decay", "-1e-4", "optim.weight_decay", []string{"finite number >= 0", "got -0.0001"}},
		{"optim:\n  schedule:\n    milestones", "[0]", "optim.schedule.milestones[0]", []string{">= 1", "got 0"}},
		{"optim:\n  schedule:\n    milestones", "[4, 4]", "optim.schedule.milestones[1]", []string{"greater than the previous milestone 4"}},
		{"optim:\n  schedule:\n    gamma", "0", "optim.schedule.gamma", []string{"in (0, 1]"}},
		{"optim:\n  schedule:\n    gamma", "2", "optim.schedule.gamma", []string{"in (0, 1]", "got 2"}},
		{"optim:\n  schedule:\n    warmup_steps", "-1", "optim.schedule.warmup_steps", []string{"must be >= 0"}},
		{"optim:\n  schedule:\n    warmup_lr", "0", "optim.schedule.warmup_lr", []string{"finite number > 0"}},
		{"train:\n  epochs", "0", "train.epochs", []string{"must be >= 1", "got 0"}},
		{"train:\n  steps", "-1", "train.steps", []string{"must be >= 0"}},
		{"train:\n  log_every", "-1", "train.log_every", []string{"must be >= 0"}},
		{"analysis:\n  every", "-1", "analysis.every", []string{"must be >= 0"}},
		{"analysis:\n  p", "[0.5, 0]", "analysis.p[1]", []string{"in (0, 1]", "got 0"}},
		{"analysis:\n  p", "1.01", "analysis.p[0]", []string{"in (0, 1]", "got 1.01"}},
		{"analysis:\n  p", "[0.5, 0.5]", "analysis.p[1]", []string{"duplicates analysis.p[0]"}},
		{"analysis:\n  layers", "[fc1, '']", "analysis.layers[1]", []string{"must not be empty"}},
		{"analysis:\n  layers", "[fc1, fc1]", "analysis.layers[1]", []string{"duplicates analysis.layers[0]"}},
	} {
		src := "data:\n  dataset: mnist\n" + tc.key + ": " + tc.value + "\n"
		if strings.HasPrefix(tc.key, "data:\n") {
			src = "data:\n  dataset: mnist\n" + strings.TrimPrefix(tc.key, "data:\n") + ": " + tc.value + "\n"
		}
		e := mustFail(t, "r.yaml", src)
		if len(e.Problems) != 1 {
			t.Errorf("%q: got %d problems, want 1:\n%s", src, len(e.Problems), e)
		}
		lastKey := tc.key[strings.LastIndexAny(tc.key, " \n")+1:]
		wantLine(t, e, at("r.yaml", lineOf(t, src, lastKey+":")), tc.field, tc.want...)
	}
}

func TestRangeCrossField(t *testing.T) {
	src := "data: {dataset: mnist}\noptim:\n  momentum: 0\n  nesterov: true\n  schedule:\n    type: multistep\n"
	e := mustFail(t, "x.yaml", src)
	wantLine(t, e, at("x.yaml", lineOf(t, src, "nesterov")), "optim.nesterov", "requires momentum > 0")
	// No milestones key: the position is that of the enclosing section.
	wantLine(t, e, at("x.yaml", lineOf(t, src, "schedule:")), "optim.schedule.milestones", "at least one milestone")
	if len(e.Problems) != 2 {
		t.Errorf("got %d problems, want 2:\n%s", len(e.Problems), e)
	}
}

func TestEnums(t *testing.T) {
	for _, tc := range []struct {
		key, field, valid string
	}{
		{"data:\n  dataset", "data.dataset", "mnist, fashion-mnist, synthetic"},
		{"data:\n  normalize", "data.normalize", "none, unit, standard"},
		{"model:\n  activation", "model.activation", "relu, tanh, sigmoid, identity"},
		{"model:\n  norm", "model.norm", "none, batchnorm"},
		{"model:\n  bn_placement", "model.bn_placement", "before, after"},
		{"optim:\n  schedule:\n    type", "optim.schedule.type", "constant, multistep"},
		{"train:\n  dtype", "train.dtype", "float32, float64"},
	} {
		src := "data:\n  dataset: mnist\n" + tc.key + ": bogus\n"
		if strings.HasPrefix(tc.key, "data:\n") {
			src = "data:\n  dataset: mnist\n" + strings.TrimPrefix(tc.key, "data:\n") + ": bogus\n"
		}
		if tc.field == "data.dataset" {
			src = "data:\n  dataset: bogus\n"
		}
		e := mustFail(t, "n.yaml", src)
		if len(e.Problems) != 1 {
			t.Errorf("%q: got %d problems, want 1:\n%s", src, len(e.Problems), e)
		}
		wantLine(t, e, at("n.yaml", lineOf(t, src, "bogus")), tc.field, `unknown value "bogus"`, "valid values: "+tc.valid)
	}
}

func TestMissingDataset(t *testing.T) {
	// Without a data section the file as a whole is to blame.
	e := mustFail(t, "m.yaml", "model: {depth: 3}\n")
	wantLine(t, e, "m.yaml", "data.dataset", "missing", "mnist, fashion-mnist, synthetic")
	// With one, its line.
	src := "seed: 3\ndata:\n  batch_size: 10\n"
	e = mustFail(t, "m.yaml", src)
	wantLine(t, e, at("m.yaml", lineOf(t, src, "data:")), "data.dataset", "missing")
	// An empty file.
	e = mustFail(t, "m.yaml", "")
	wantLine(t, e, "m.yaml", "data.dataset", "missing")
}

func TestDataPath(t *testing.T) {
	dir := t.TempDir()
	c, err := Parse("p.yaml", []byte("data: {dataset: mnist, path: "+dir+"}\n"), nil)
	if err != nil || c.Data.Path != dir {
		t.Fatalf("existing directory: %v, path %q", err, c.Data.Path)
	}
	missing := filepath.Join(dir, "nope")
	src := "data:\n  dataset: mnist\n  path: " + missing + "\n"
	e := mustFail(t, "p.yaml", src)
	wantLine(t, e, at("p.yaml", 3), "data.path", missing, "no such file")

	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	e = mustFail(t, "p.yaml", "data:\n  dataset: mnist\n  path: "+file+"\n")
	wantLine(t, e, at("p.yaml", 3), "data.path", "not a directory")
}

func TestManyErrors(t *testing.T) {
	b, err := os.ReadFile("testdata/many_errors.yaml")
	if err != nil {
		t.Fatal(err)
	}
	src := string(b)
	_, err = Load("testdata/many_errors.yaml", nil)
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v, want *Error", err)
	}
	f := "testdata/many_errors.yaml"
	want := []struct {
		needle, field, msg string
	}{
		{"cifar10", "data.dataset", "unknown value"},
		{"batchsize", "data.batchsize", "unknown key"},
		{"clases", "data.synthetic.clases", "unknown key"},
		{"depth", "model.depth", "expected an integer"},
		{"width", "model.width", "must be >= 1"},
		{"swish", "model.activation", "unknown value"},
		{"lr:", "optim.lr", "finite number > 0"},
		{"momentum", "optim.momentum", "in [0, 1)"},
		{"cosine", "optim.schedule.type", "unknown value"},
		{"milestones", "optim.schedule.milestones[1]", "greater than the previous"},
		{"epochs", "train.epochs", "expected an integer"},
		{"p:", "analysis.p[1]", "in (0, 1]"},
		{"extra", "extra", "unknown key"},
	}
	if len(e.Problems) != len(want) {
		t.Errorf("got %d problems, want %d:\n%s", len(e.Problems), len(want), e)
	}
	lines := strings.Split(e.Error(), "\n")
	for i, w := range want {
		wantLine(t, e, at(f, lineOf(t, src, w.needle)), w.field, w.msg)
		// Problems come in file order.
		if i < len(lines) && !strings.HasPrefix(lines[i], at(f, lineOf(t, src, w.needle))+": "+w.field+": ") {
			t.Errorf("line %d is %q, want the %s problem", i, lines[i], w.field)
		}
	}
}

func TestDuplicateKey(t *testing.T) {
	src := "data:\n  dataset: mnist\nseed: 1\nseed: 2\n"
	e := mustFail(t, "d.yaml", src)
	wantLine(t, e, at("d.yaml", 4), "seed", "duplicate key", "first given at d.yaml:3")
}

func TestAliases(t *testing.T) {
	c, err := Parse("a.yaml", []byte("data: {dataset: mnist}\noptim:\n  lr: &v 0.05\n  schedule: {warmup_lr: *v}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Optim.LR != 0.05 || c.Optim.Schedule.WarmupLR != 0.05 {
		t.Errorf("lr %v warmup_lr %v, want 0.05 for both", c.Optim.LR, c.Optim.Schedule.WarmupLR)
	}
	// A self-referencing alias is refused, not followed forever.
	e := mustFail(t, "a.yaml", "data: &d\n  dataset: mnist\n  synthetic: *d\n")
	wantLine(t, e, "a.yaml:3", "", "the alias *d is inside the value it names")
	// An alias bomb is refused at the alias that crosses the bound, in a file and in --set.
	bomb := "[&a0 [x, x, x, x, x, x, x, x, x, x]"
	for i := 1; i < 10; i++ {
		bomb += fmt.Sprintf(", &a%d [%s]", i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*a%d, ", i-1), 10), ", "))
	}
	bomb += "]"
	e = mustFail(t, "b.yaml", "data: {dataset: synthetic}\nanalysis:\n  layers: "+bomb+"\n")
	wantLine(t, e, "b.yaml:3", "", "the alias *a3 takes the document past 100000 nodes")
	_, err = Parse("c.yaml", []byte("data: {dataset: synthetic}\n"), []string{"analysis.layers=" + bomb})
	if err == nil || !strings.Contains(err.Error(), "--set analysis.layers=[&a0") || !strings.Contains(err.Error(), "the alias *a3") {
		t.Errorf("--set bomb: %v", err)
	}
}

func TestSyntaxAndShape(t *testing.T) {
	e := mustFail(t, "s.yaml", "data:\n  dataset: mnist\n  path: [\n")
	if len(e.Problems) != 1 || !strings.HasPrefix(e.Error(), "s.yaml") || !strings.Contains(e.Error(), "invalid YAML") {
		t.Errorf("syntax error: %v", e)
	}
	e = mustFail(t, "s.yaml", "data: {dataset: mnist}\nseed: 1\n  model: x\n")
	wantLine(t, e, "s.yaml:3", "", "invalid YAML")

	e = mustFail(t, "s.yaml", "data: {dataset: mnist}\n---\nseed: 2\n")
	wantLine(t, e, "s.yaml:2", "", "single document")

	e = mustFail(t, "s.yaml", "- data\n- model\n", "model.depth=3")
	wantLine(t, e, "s.yaml:1", "", "expected a mapping with keys name, seed, data")
	if len(e.Problems) != 1 {
		t.Errorf("got %d problems, want 1:\n%s", len(e.Problems), e)
	}
}

func TestLoad(t *testing.T) {
	_, err := Load("testdata/does-not-exist.yaml", nil)
	if err == nil || !strings.Contains(err.Error(), "testdata/does-not-exist.yaml") || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "my.exp.yml")
	if err := os.WriteFile(path, []byte("data: {dataset: mnist}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "my.exp" {
		t.Errorf("default name %q, want my.exp", c.Name)
	}
	if err := os.WriteFile(path, []byte("name: given\ndata: {dataset: mnist}\nmodel: {depth: 0}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err = Load(path, nil)
	if err == nil || !strings.HasPrefix(err.Error(), path+":3: model.depth: ") {
		t.Errorf("got %v, want an error at %s:3", err, path)
	}
	c, err = Load(path, []string{"model.depth=3"})
	if err != nil || c.Name != "given" || c.Model.Depth != 3 {
		t.Errorf("got %v, name %q, depth %d", err, c.Name, c.Model.Depth)
	}
}

func TestOverrides(t *testing.T) {
	src := "data:\n  dataset: mnist\nmodel:\n  norm: none\n  depth: 3\nanalysis:\n  p: [0.5]\n"
	parse := func(ov ...string) Config {
		t.Helper()
		c, err := Parse("o.yaml", []byte(src), ov)
		if err != nil {
			t.Fatalf("overrides %q: %v", ov, err)
		}
		return c
	}
	base := parse()

	// Each override changes exactly what it names.
	for _, tc := range []struct {
		arg  string
		edit func(*Config)
	}{
		{"model.norm=batchnorm", func(c *Config) { c.Model.Norm = NormBatchNorm }},
		{"model.depth=7", func(c *Config) { c.Model.Depth = 7 }},
		{"optim.lr = 0.05", func(c *Config) { c.Optim.LR = 0.05 }},
		{"analysis.p=[0.2, 1]", func(c *Config) { c.Analysis.P = []float64{0.2, 1} }},
		{"analysis.p=0.3", func(c *Config) { c.Analysis.P = []float64{0.3} }},
		{"analysis.p=[]", func(c *Config) { c.Analysis.P = nil }},
		{"analysis.layers=[fc1,fc2]", func(c *Config) { c.Analysis.Layers = []string{"fc1", "fc2"} }},
		{"data.synthetic.classes=3", func(c *Config) { c.Data.Synthetic.Classes = 3 }},
		{"optim.schedule.milestones=[2,4]", func(c *Config) { c.Optim.Schedule.Milestones = []int{2, 4} }},
		{"data.synthetic={dim: 5, noise: 0}", func(c *Config) { c.Data.Synthetic.Dim = 5; c.Data.Synthetic.Noise = 0 }},
		{"name=a=b", func(c *Config) { c.Name = "a=b" }},
		{"data.path=", func(c *Config) {}},
		{"seed=18446744073709551615", func(c *Config) { c.Seed = 1<<64 - 1 }},
	} {
		want := base
		want.Analysis.P = append([]float64(nil), base.Analysis.P...)
		tc.edit(&want)
		if got := parse(tc.arg); !reflect.DeepEqual(got, want) {
			t.Errorf("--set %s:\n got %+v\nwant %+v", tc.arg, got, want)
		}
	}

	// Later overrides win, and overrides of one section combine.
	c := parse("model.depth=5", "model.width=7", "model.depth=6")
	if c.Model.Depth != 6 || c.Model.Width != 7 || c.Model.Norm != NormNone {
		t.Errorf("combined overrides: %+v", c.Model)
	}
	// A section missing from the file is created.
	c = parse("train.dtype=float64", "train.epochs=2")
	if c.Train.Dtype != DtypeFloat64 || c.Train.Epochs != 2 || c.Train.LogEvery != 50 {
		t.Errorf("new section: %+v", c.Train)
	}
	// Overrides work on an empty document.
	c, err := Parse("empty.yaml", nil, []string{"data.dataset=synthetic"})
	if err != nil || c.Data.Dataset != DatasetSynthetic || c.Name != "empty" {
		t.Errorf("empty document: %v %+v", err, c)
	}
	// Overriding one alias target leaves the other use intact.
	// (Without copying, train would receive model.depth, an unknown key.)
	c, err = Parse("al.yaml", []byte("data: {dataset: mnist}\nmodel: &e {}\ntrain: *e\n"), []string{"model.depth=5"})
	if err != nil || c.Model.Depth != 5 {
		t.Errorf("override through alias: %v %+v", err, c.Model)
	}
}

func TestOverrideErrors(t *testing.T) {
	src := "data:\n  dataset: mnist\n"
	for _, tc := range []struct {
		arg, field string
		want       []string
	}{
		{"model.wdth=3", "model.wdth", []string{"unknown key", "valid keys in model: arch, depth, width"}},
		{"sweep.x=3", "sweep", []string{"unknown key", "valid keys at top level: name, seed"}},
		{"data.synthetic.k=1", "data.synthetic.k", []string{"unknown key", "valid keys in data.synthetic: classes"}},
		{"analysis.p.x=1", "analysis.p.x", []string{"analysis.p is not a section"}},
		{"model.depth=two", "model.depth", []string{"expected an integer", `string "two"`}},
		{"optim.lr=[1, 2]", "optim.lr", []string{"expected a number", "a list"}},
		{"optim.lr=-1", "optim.lr", []string{"finite number > 0", "got -1"}},
		{"analysis.p=[0.5, 2]", "analysis.p[1]", []string{"in (0, 1]"}},
		{"model.norm=bn", "model.norm", []string{`unknown value "bn"`, "none, batchnorm"}},
		{"data.synthetic={classes: 1}", "data.synthetic.classes", []string{"must be >= 2"}},
		{"data.synthetic={clases: 3}", "data.synthetic.clases", []string{"unknown key"}},
		{"model.depth=", "model.depth", []string{"expected an integer", "no value"}},
		{"optim.lr=[", "optim.lr", []string{"invalid YAML value"}},
		{"model.depth", "", []string{"expected key=value"}},
		{"=3", "", []string{"missing key"}},
	} {
		e := mustFail(t, "o.yaml", src, tc.arg)
		if len(e.Problems) != 1 {
			t.Errorf("--set %s: got %d problems, want 1:\n%s", tc.arg, len(e.Problems), e)
		}
		wantLine(t, e, "--set "+tc.arg, tc.field, tc.want...)
	}

	// File and override problems are reported together, file first.
	e := mustFail(t, "o.yaml", "data:\n  dataset: mnist\nmodel:\n  depth: 0\n", "model.x=1", "optim.lr=0")
	lines := strings.Split(e.Error(), "\n")
	want := []string{"o.yaml:4: model.depth:", "--set model.x=1: model.x:", "--set optim.lr=0: optim.lr:"}
	if len(lines) != len(want) {
		t.Fatalf("got:\n%s", e)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d: got %q, want prefix %q", i, lines[i], w)
		}
	}
	// An override replacing a bad file value hides it.
	if _, err := Parse("o.yaml", []byte("data:\n  dataset: mnist\nmodel:\n  depth: 0\n"), []string{"model.depth=2"}); err != nil {
		t.Errorf("override of a bad value: %v", err)
	}
}

func TestOverrideMethod(t *testing.T) {
	c := fullConfig()
	got, err := c.Override("model.norm=none", "analysis.p=[1]")
	if err != nil {
		t.Fatal(err)
	}
	want := fullConfig()
	want.Model.Norm = NormNone
	want.Analysis.P = []float64{1}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if !reflect.DeepEqual(c, fullConfig()) {
		t.Errorf("Override changed its receiver")
	}
	if _, err := c.Override("model.depth=0"); err == nil || !strings.HasPrefix(err.Error(), "--set model.depth=0: model.depth:") {
		t.Errorf("got %v", err)
	}
}

func TestValidateIndependentOfParse(t *testing.T) {
	// Validate on a configuration built in Go reports fields without
	// positions, one line each.
	c := fullConfig()
	c.Model.Depth = 0
	c.Optim.LR = -1
	c.Analysis.P = []float64{0.5, 0.5}
	err := c.Validate()
	want := "model.depth: must be >= 1, got 0\n" +
		"optim.lr: must be a finite number > 0, got -1\n" +
		"analysis.p[1]: duplicates analysis.p[0] = 0.5"
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
}

// absTestdata is the absolute path of testdata: relative data paths in files resolve to it.
var absTestdata, _ = filepath.Abs("testdata")

// A relative data.path in a file is taken from the file's directory; from --set, from the
// working directory.
func TestRelativeDataPath(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "sub", "images"), 0o755)
	path := filepath.Join(dir, "sub", "c.yaml")
	os.WriteFile(path, []byte("data: {dataset: mnist, path: images}\n"), 0o644)
	c, err := Load(path, nil)
	if err != nil || c.Data.Path != filepath.Join(dir, "sub", "images") {
		t.Errorf("path from the file: %q (%v)", c.Data.Path, err)
	}
	c, err = Load(path, []string{"data.path=testdata"})
	if err != nil || c.Data.Path != absTestdata {
		t.Errorf("path from --set: %q (%v), want %q", c.Data.Path, err, absTestdata)
	}
	if _, err := Load(path, []string{"data.path=images"}); err == nil {
		t.Error("--set data.path=images resolved against the file's directory, not the working directory")
	}
}

// A data path written as $LWCA_DATA/NAME is kept as written and checked only when the data
// loads; other $ paths are refused; cifar10 needs no path, imagefolder does.
func TestDataRootPath(t *testing.T) {
	t.Setenv("LWCA_DATA", t.TempDir()) // an empty root: nothing is looked up at parse time
	path := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(path, []byte("data: {dataset: imagefolder, path: $LWCA_DATA/images.tar.gz}\n"), 0o644)
	c, err := Load(path, nil)
	if err != nil || c.Data.Path != "$LWCA_DATA/images.tar.gz" {
		t.Fatalf("path in the data root: %q (%v), want it kept as written", c.Data.Path, err)
	}
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Parse(path, b, nil); err != nil || !reflect.DeepEqual(got, c) {
		t.Errorf("resolved config does not read back: %v", err)
	}
	if c, err := Load(path, []string{"data.path=$LWCA_DATA"}); err != nil || c.Data.Path != "$LWCA_DATA" {
		t.Errorf("--set data.path=$LWCA_DATA: %q (%v)", c.Data.Path, err)
	}
	if c, err := Load(path, []string{"data.dataset=cifar10", "data.path="}); err != nil || c.Data.Path != "" {
		t.Errorf("cifar10 with no path: %q (%v), want the data root's default", c.Data.Path, err)
	}
	for _, c := range []struct{ set, want string }{
		{"data.path=$HOME/images", `data.path: "$HOME/images": only $LWCA_DATA/… (the data root) is expanded`},
		{"data.path=$LWCA_DATAX/images", `only $LWCA_DATA/…`},
		{"data.path=", "dataset imagefolder needs a path: a directory or an archive, or $LWCA_DATA/NAME"},
	} {
		_, err := Load(path, []string{c.set})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("--set %s: error %v, want one saying %q", c.set, err, c.want)
		}
	}
}

// Every shipped config, reproduction bases included, is valid on a fresh clone: it names its
// data by data set or in the data root, never by a path outside the repository.
func TestShippedConfigs(t *testing.T) {
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, pattern := range []string{"../../configs/*.yaml", "../../configs/*/*.yaml"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Skip("no configs shipped yet")
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.HasPrefix(src, []byte("sweep:")) || bytes.Contains(src, []byte("\nsweep:")) {
			continue // a sweep: package sweep expands and checks it
		}
		c, err := Load(f, nil)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if _, inRoot := data.InRoot(c.Data.Path); !inRoot && c.Data.Path != "" {
			if rel, err := filepath.Rel(repo, c.Data.Path); err != nil || !filepath.IsLocal(rel) {
				t.Errorf("%s: data.path %q is outside the repository; name the data set, or $LWCA_DATA/NAME", f, c.Data.Path)
			}
		}
		b, err := c.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if got, err := Parse(f, b, nil); err != nil || !reflect.DeepEqual(withoutPositions(got), withoutPositions(c)) {
			t.Errorf("%s: resolved config does not read back: %v", f, err)
		}
	}
}

// withoutPositions returns c with the declaration positions of its layers cleared, at any
// depth: they say where a layer was read from, not what it is.
func withoutPositions(c Config) Config {
	var clear func(v reflect.Value)
	clear = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Pointer, reflect.Interface:
			if !v.IsNil() {
				clear(v.Elem())
			}
		case reflect.Slice:
			for i := range v.Len() {
				clear(v.Index(i))
			}
		case reflect.Struct:
			if v.Type() == specType && v.CanSet() {
				v.FieldByName("Pos").SetString("")
			}
			for i := range v.NumField() {
				if v.Type().Field(i).IsExported() {
					clear(v.Field(i))
				}
			}
		}
	}
	c.Model.Layers = slices.Clone(c.Model.Layers)
	clear(reflect.ValueOf(&c).Elem())
	return c
}

// A run name becomes runs/<name>: anything but one plain directory name is refused, with the
// file and line (or the override) and what is expected.
func TestNameIsOnePathElement(t *testing.T) {
	src := []byte("name: ok\ndata: {dataset: synthetic}\n")
	for _, tc := range []struct{ set, pos string }{
		{"..", "--set name=.."},
		{".", "--set name=."},
		{"../../escape", "--set name=../../escape"},
		{"a/b", "--set name=a/b"},
		{`a\b`, `--set name=a\b`},
		{"", "--set name="},
		{".hidden", "--set name=.hidden"},
		{strings.Repeat("x", 241), "--set name=" + strings.Repeat("x", 241)},
	} {
		_, err := Parse("run.yaml", src, []string{"name=" + tc.set})
		var e *Error
		if !errors.As(err, &e) || len(e.Problems) != 1 || e.Problems[0].Field != "name" || e.Problems[0].Pos != tc.pos {
			t.Errorf("name %q: got %v, want one problem with name at %q", tc.set, err, tc.pos)
			continue
		}
		if !strings.Contains(e.Problems[0].Msg, "expected") {
			t.Errorf("name %q: %q does not say what is expected", tc.set, e.Problems[0].Msg)
		}
	}
	_, err := Parse("run.yaml", []byte("data: {dataset: synthetic}\nname: ../x\n"), nil)
	if err == nil || !strings.HasPrefix(err.Error(), "run.yaml:2: name: ") {
		t.Errorf("name in the file: got %v, want run.yaml:2: name: …", err)
	}
	for _, ok := range []string{"smoke", "with space", "study:norm=none,lr=0.1", "ünïcode", "a..b"} {
		if _, err := Parse("run.yaml", src, []string{"name=" + ok}); err != nil {
			t.Errorf("name %q refused: %v", ok, err)
		}
	}
}
