package config

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/lwca/lwca/data"
	"github.com/lwca/lwca/graph"
	"github.com/lwca/lwca/nets"
	"github.com/lwca/lwca/optim"
	"github.com/lwca/lwca/registry"
)

// Validate checks every field against its allowed range and returns an
// *Error listing all violations, or nil. The problems carry no positions;
// Load and Parse add them.
func (c Config) Validate() error {
	if ps := c.check(); len(ps) > 0 {
		return &Error{Problems: ps}
	}
	return nil
}

// check returns the range violations of c, in field order.
func (c Config) check() []Problem {
	var k checker

	if msg := NameProblem(c.Name); msg != "" {
		k.add("name", "%s", msg)
	}

	d := c.Data
	k.oneOf("data.dataset", d.Dataset, DatasetMNIST, DatasetFashionMNIST, DatasetSynthetic, DatasetCIFAR10, DatasetImageFolder)
	switch _, inRoot := data.InRoot(d.Path); {
	case inRoot:
		// Under the data root, which may differ where the config runs: looked up when the
		// data loads, with a message saying how to fetch what is missing.
	case strings.HasPrefix(d.Path, "$"):
		k.add("data.path", "%q: only %s/… (the data root) is expanded in a path", d.Path, data.RootPrefix)
	case d.Path != "":
		fi, err := os.Stat(d.Path)
		switch {
		case err != nil:
			k.add("data.path", "cannot use %q: %v", d.Path, unwrapPathError(err))
		case !fi.IsDir() && d.Dataset != DatasetCIFAR10 && d.Dataset != DatasetImageFolder:
			k.add("data.path", "%q is not a directory", d.Path)
		}
	case d.Dataset == DatasetImageFolder:
		k.add("data.path", "dataset imagefolder needs a path: a directory or an archive, or %s/NAME for one in the data root", data.RootPrefix)
	}
	k.intMin("data.augment.crop_pad", d.Augment.CropPad, 0)
	k.intMin("data.batch_size", d.BatchSize, 1)
	k.intMin("data.eval_batch_size", d.EvalBatchSize, 1)
	k.oneOf("data.normalize", d.Normalize, NormalizeNone, NormalizeUnit, NormalizeStandard, NormalizeChannels, NormalizeCIFAR10)
	k.intMin("data.train_limit", d.TrainLimit, 0)
	k.intMin("data.test_limit", d.TestLimit, 0)
	s := d.Synthetic
	k.intMin("data.synthetic.classes", s.Classes, 2)
	k.intMin("data.synthetic.dim", s.Dim, 1)
	k.intMin("data.synthetic.train", s.Train, 1)
	k.intMin("data.synthetic.test", s.Test, 1)
	k.floatIn("data.synthetic.separation", s.Separation, closed(0), inf)
	k.floatIn("data.synthetic.noise", s.Noise, closed(0), inf)

	m := c.Model
	k.known("model.arch", lookupErr(nets.Archs.Lookup(m.Arch)))
	if c, ok := m.Options.(registry.Checker); ok {
		for _, p := range c.Check() {
			k.add("model."+p.Field, "%s", p.Msg)
		}
	}
	switch {
	case m.Arch == ArchLayers && len(m.Layers) == 0:
		k.add("model.arch", "arch layers needs the network declared under model.layers")
	case m.Arch != ArchLayers && len(m.Layers) > 0:
		k.add("model.layers", "declared layers go with model.arch: layers (or no arch), not arch %s", m.Arch)
	}
	if m.Arch == ArchResNet && m.Depth >= 1 && (m.Depth < 8 || (m.Depth-2)%6 != 0) {
		k.add("model.depth", "a resnet has depth 6n+2 with n ≥ 1 (8, 14, 20, 32, 44, 56, 110, …), got %d", m.Depth)
	}
	k.oneOf("model.form", m.Form, FormOriginal, FormPreAct, FormLastBN)
	k.oneOf("model.shortcut", m.Shortcut, ShortcutA, ShortcutB)
	if len(m.Widths) != 3 {
		k.add("model.widths", "needs 3 stage widths, got %d", len(m.Widths))
	}
	for i, w := range m.Widths {
		k.intMin(fmt.Sprintf("model.widths[%d]", i), w, 1)
	}
	if m.Arch == ArchCNN && len(m.Channels) == 0 {
		k.add("model.channels", "a cnn needs at least one convolution")
	}
	for i, c := range m.Channels {
		k.intMin(fmt.Sprintf("model.channels[%d]", i), c, 1)
	}
	k.intMin("model.pool_every", m.PoolEvery, 1)
	k.intMin("model.depth", m.Depth, 1)
	k.intMin("model.width", m.Width, 1)
	k.oneOf("model.activation", m.Activation, ActReLU, ActTanh, ActSigmoid, ActIdentity, ActGELU)
	k.oneOf("model.norm", m.Norm, NormNone, NormBatchNorm)
	k.oneOf("model.bn_placement", m.BNPlacement, BNBefore, BNAfter)
	k.known("model.init", lookupErr(graph.Initializers.Lookup(m.Init)))
	k.floatIn("model.bn_momentum", m.BNMomentum, open(0), closed(1))
	k.floatIn("model.bn_eps", m.BNEps, open(0), inf)

	o := c.Optim
	k.floatIn("optim.lr", o.LR, open(0), inf)
	k.known("optim.type", lookupErr(optim.Optimizers.Lookup(o.Type)))
	if c, ok := o.Options.(registry.Checker); ok {
		for _, p := range c.Check() {
			k.add("optim."+p.Field, "%s", p.Msg)
		}
	}
	k.floatIn("optim.weight_decay", o.WeightDecay, closed(0), inf)
	sc := o.Schedule
	k.oneOf("optim.schedule.type", sc.Type, ScheduleConstant, ScheduleMultistep)
	if sc.Type == ScheduleMultistep && len(sc.Milestones) == 0 {
		k.add("optim.schedule.milestones", "type %s needs at least one milestone", ScheduleMultistep)
	}
	for i, e := range sc.Milestones {
		f := fmt.Sprintf("optim.schedule.milestones[%d]", i)
		switch {
		case e < 1:
			k.add(f, "must be an epoch >= 1, got %d", e)
		case i > 0 && e <= sc.Milestones[i-1]:
			k.add(f, "must be greater than the previous milestone %d, got %d", sc.Milestones[i-1], e)
		}
	}
	k.floatIn("optim.schedule.gamma", sc.Gamma, open(0), closed(1))
	k.intMin("optim.schedule.warmup_steps", sc.WarmupSteps, 0)
	k.floatIn("optim.schedule.warmup_lr", sc.WarmupLR, open(0), inf)

	t := c.Train
	k.intMin("train.epochs", t.Epochs, 1)
	k.intMin("train.steps", t.Steps, 0)
	k.oneOf("train.dtype", t.Dtype, DtypeFloat32, DtypeFloat64)
	k.intMin("train.log_every", t.LogEvery, 0)
	k.intMin("train.checkpoint_every", t.CheckpointEvery, 0)

	a := c.Analysis
	k.intMin("analysis.every", a.Every, 0)
	for i, p := range a.P {
		f := fmt.Sprintf("analysis.p[%d]", i)
		if k.floatIn(f, p, open(0), closed(1)) {
			for j := range i {
				if a.P[j] == p {
					k.add(f, "duplicates analysis.p[%d] = %s", j, fmtFloat(p))
					break
				}
			}
		}
	}
	for i, l := range a.Layers {
		f := fmt.Sprintf("analysis.layers[%d]", i)
		if l == "" {
			k.add(f, "layer name must not be empty")
			continue
		}
		for j := range i {
			if a.Layers[j] == l {
				k.add(f, "duplicates analysis.layers[%d] = %q", j, l)
				break
			}
		}
	}
	k.oneOf("analysis.fisher", a.Fisher, FisherEmpirical, FisherTrue)
	k.oneOf("analysis.source", a.Source, SourceWindow, SourceBatch, SourceFixed, SourceAverage)
	k.intMin("analysis.window", a.Window, 0)
	if a.Window > 0 && a.Every > 0 && a.Window > a.Every {
		k.add("analysis.window", "%d steps is more than analysis.every (%d): the windows of two analysis steps would overlap", a.Window, a.Every)
	}
	k.intMin("analysis.batch_size", a.BatchSize, 1)
	k.intMin("analysis.batches", a.Batches, 1)
	k.intMin("analysis.chunk_size", a.ChunkSize, 0)
	if a.Centered && a.AppendBias {
		k.add("analysis.append_bias", "cannot be combined with analysis.centered (the constant coordinate has no variance)")
	}
	k.intMin("analysis.fidelity_max_params", a.FidelityMaxParams, 0)
	k.intMin("analysis.save_weights_every", a.SaveWeightsEvery, 0)
	k.oneOf("analysis.conv_mode", a.ConvMode, ConvPatches, ConvChannels)
	k.curvature(a.Curvature, a.Every)
	return k.problems
}

// NameProblem says what is wrong with name as a run name, or returns "". A run name becomes
// a directory (runs/<name>), so it must be exactly one path element that stays where it is
// put: not empty, not . or .., no / or \\, no control characters, not hidden (a leading dot
// is also how lwca marks its temporary files) and at most 240 bytes.
func NameProblem(name string) string {
	const expected = "expected one directory name: letters, digits and punctuation other than / and \\, not starting with a dot"
	switch {
	case name == "":
		return "must not be empty; " + expected
	case name == "." || name == "..":
		return fmt.Sprintf("%q refers to an existing directory instead of naming a new one; %s", name, expected)
	case strings.ContainsAny(name, `/\`):
		return fmt.Sprintf("%q contains a path separator; %s", name, expected)
	case strings.HasPrefix(name, "."):
		return fmt.Sprintf("%q starts with a dot; %s", name, expected)
	case len(name) > maxNameBytes:
		return fmt.Sprintf("is %d bytes long; expected at most %d", len(name), maxNameBytes)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return fmt.Sprintf("%q contains a control character or invalid UTF-8; %s", name, expected)
		}
	}
	return ""
}

// maxNameBytes leaves room below the usual 255-byte file name limit for suffixes such as
// .2 and temporary-file decorations.
const maxNameBytes = 240

// checker collects range violations.
type checker struct {
	problems []Problem
}

func (k *checker) add(field, format string, args ...any) {
	k.problems = append(k.problems, Problem{Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (k *checker) oneOf(field, v string, valid ...string) {
	for _, s := range valid {
		if v == s {
			return
		}
	}
	list := strings.Join(valid, ", ")
	if v == "" {
		k.add(field, "missing; valid values: %s", list)
		return
	}
	k.add(field, "unknown value %q; valid values: %s", v, list)
}

// known records the error of a registry lookup, which names the registered choices.
func (k *checker) known(field string, err error) {
	if err != nil {
		k.add(field, "%v", err)
	}
}

// lookupErr keeps the error of a registry lookup.
func lookupErr[T any](_ T, err error) error { return err }

func (k *checker) intMin(field string, v, min int) {
	if v < min {
		k.add(field, "must be >= %d, got %d", min, v)
	}
}

// bound is one end of an interval of float64.
type bound struct {
	v    float64
	open bool
}

func open(v float64) bound   { return bound{v: v, open: true} }
func closed(v float64) bound { return bound{v: v} }

// inf is the missing upper bound; values must still be finite.
var inf = open(math.Inf(1))

// floatIn reports whether v is finite and within [lo, hi] (ends open or
// closed as given), and records a problem if not.
func (k *checker) floatIn(field string, v float64, lo, hi bound) bool {
	ok := !math.IsNaN(v) && !math.IsInf(v, 0) &&
		(v > lo.v || !lo.open && v == lo.v) &&
		(v < hi.v || !hi.open && v == hi.v)
	if ok {
		return true
	}
	var want string
	switch {
	case math.IsInf(hi.v, 1) && lo.open:
		want = "a finite number > " + fmtFloat(lo.v)
	case math.IsInf(hi.v, 1):
		want = "a finite number >= " + fmtFloat(lo.v)
	default:
		l, r := "[", "]"
		if lo.open {
			l = "("
		}
		if hi.open {
			r = ")"
		}
		want = fmt.Sprintf("in %s%s, %s%s", l, fmtFloat(lo.v), fmtFloat(hi.v), r)
	}
	k.add(field, "must be %s, got %s", want, fmtFloat(v))
	return false
}

func fmtFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// unwrapPathError drops the path from an *os.PathError, which the message
// already quotes.
func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
