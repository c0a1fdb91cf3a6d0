package optim

import (
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
	"gorgonia.org/tensor"
)

func TestRegisteredOptimizers(t *testing.T) {
	for _, name := range []string{"adam", "adamw", "sgd"} {
		if !Optimizers.Has(name) {
			t.Errorf("%s is not registered; registered: %v", name, Optimizers.Names())
		}
	}
	want := map[string]any{
		"sgd":   &SGDOptions{Momentum: 0.9},
		"adam":  &AdamOptions{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8},
		"adamw": &AdamOptions{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8},
	}
	for name, def := range want {
		f, _ := Optimizers.Lookup(name)
		if o := f.Options(); !reflect.DeepEqual(o, def) {
			t.Errorf("%s defaults %+v, want %+v", name, o, def)
		}
		if f.Options() == f.Options() {
			t.Errorf("%s: Options returns a shared struct", name)
		}
	}
	for _, c := range []struct {
		name    string
		mu      float64
		hasMu   bool
		options any
	}{{"sgd", 0.9, true, nil}, {"sgd", 0, true, &SGDOptions{}}, {"adam", 0, false, nil}, {"adamw", 0, false, nil}} {
		opt, err := New(c.name, c.options, 0)
		if err != nil {
			t.Fatal(err)
		}
		if mu, ok := HeavyBallOf(opt); mu != c.mu || ok != c.hasMu {
			t.Errorf("%s: HeavyBallOf = %v, %v; want %v, %v", c.name, mu, ok, c.mu, c.hasMu)
		}
	}
}

// Options decode from YAML by their yaml tags over the defaults, and every problem Check
// reports names one of those keys.
func TestOptionsDecodeAndCheck(t *testing.T) {
	f, _ := Optimizers.Lookup("adamw")
	o := f.Options().(*AdamOptions)
	dec := yaml.NewDecoder(strings.NewReader("beta2: 0.95\n"))
	dec.KnownFields(true)
	if err := dec.Decode(o); err != nil || *o != (AdamOptions{0.9, 0.95, 1e-8}) {
		t.Errorf("decoded %+v, %v", *o, err)
	}
	nan := math.NaN()
	for _, c := range []struct {
		options OptionChecker
		fields  []string
	}{
		{&SGDOptions{Momentum: 0.9, Nesterov: true}, nil},
		{&SGDOptions{}, nil},
		{&SGDOptions{Momentum: 1}, []string{"momentum"}},
		{&SGDOptions{Momentum: -0.1}, []string{"momentum"}},
		{&SGDOptions{Momentum: nan}, []string{"momentum"}},
		{&SGDOptions{Nesterov: true}, []string{"nesterov"}},
		{&AdamOptions{0.9, 0.999, 1e-8}, nil},
		{&AdamOptions{0, 0, 1}, nil},
		{&AdamOptions{1, 0.999, 1e-8}, []string{"beta1"}},
		{&AdamOptions{0.9, -0.5, 0}, []string{"beta2", "eps"}},
		{&AdamOptions{nan, 1, math.Inf(1)}, []string{"beta1", "beta2", "eps"}},
	} {
		ps := c.options.Check()
		var fields []string
		tags := yamlTags(c.options)
		for _, p := range ps {
			fields = append(fields, p.Field)
			if !slices.Contains(tags, p.Field) {
				t.Errorf("%+v: problem %q names no yaml key of %v", c.options, p, tags)
			}
			if p.Msg == "" {
				t.Errorf("%+v: problem %q has no message", c.options, p)
			}
		}
		if !slices.Equal(fields, c.fields) {
			t.Errorf("%+v: problems %v, want fields %v", c.options, ps, c.fields)
		}
	}
}

func yamlTags(v any) []string {
	var tags []string
	rt := reflect.TypeOf(v).Elem()
	for i := range rt.NumField() {
		tags = append(tags, rt.Field(i).Tag.Get("yaml"))
	}
	return tags
}

func TestNewRefuses(t *testing.T) {
	for _, c := range []struct {
		name    string
		options any
		wd      float64
		want    string
	}{
		{"adma", nil, 0, "did you mean adam?"},
		{"adam", &SGDOptions{}, 0, "adam needs options of type *optim.AdamOptions, got *optim.SGDOptions"},
		{"sgd", AdamOptions{}, 0, "needs options of type *optim.SGDOptions"},
		{"adam", &AdamOptions{Beta1: 0.9, Beta2: 1, Eps: 1e-8}, 0, "adam options: beta2: must be in [0, 1), got 1"},
		{"sgd", nil, -1e-4, "weight decay"},
		{"sgd", nil, math.NaN(), "weight decay"},
	} {
		if _, err := New(c.name, c.options, c.wd); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%q, %+v, %v): %v, want an error containing %q", c.name, c.options, c.wd, err, c.want)
		}
	}
}

// An optimiser rebuilt through the registry from a copy of another's state continues exactly
// as the original does, for every registered optimiser (the example's signum too) and dtype.
func TestStateRestoresExactly(t *testing.T) {
	for _, name := range Optimizers.Names() {
		for _, dtype := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
			wd := 0.01
			if name == "signum" { // the example's optimiser: float64, no weight decay
				if dtype == tensor.Float32 {
					continue
				}
				wd = 0
			}
			a, err := New(name, nil, wd)
			if err != nil {
				t.Fatal(err)
			}
			ws := []*tensor.Dense{vec(dtype, []float64{1, -2, 3}), vec(dtype, []float64{0.5, 0.25})}
			gs := []*tensor.Dense{vec(dtype, []float64{0, 0, 0}), vec(dtype, []float64{0, 0})}
			step := func(opt Optimizer, ws []*tensor.Dense, k int) {
				for i, w := range ws {
					cur := values(w)
					for j := range cur {
						cur[j] = lossGrad(cur[j], j+i)
					}
					set(gs[i], cur)
				}
				if err := opt.Step(ws, gs, 0.1/float64(1+k)); err != nil {
					t.Fatal(err)
				}
			}
			for k := range 5 {
				step(a, ws, k)
			}
			b, _ := New(name, nil, wd)
			if err := b.SetState(copyState(a.State())); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			wb := []*tensor.Dense{ws[0].Clone().(*tensor.Dense), ws[1].Clone().(*tensor.Dense)}
			for k := 5; k < 10; k++ {
				step(a, ws, k)
				step(b, wb, k)
			}
			for i := range ws {
				if !slices.Equal(values(ws[i]), values(wb[i])) {
					t.Errorf("%s %v: restored optimiser gave %v, the original %v", name, dtype, values(wb[i]), values(ws[i]))
				}
			}
		}
	}
}

func copyState(st State) State {
	out := State{Scalars: map[string]float64{}}
	for k, v := range st.Scalars {
		out.Scalars[k] = v
	}
	for _, bufs := range st.Buffers {
		c := map[string]any{}
		for n, b := range bufs {
			switch s := b.(type) {
			case []float32:
				c[n] = slices.Clone(s)
			case []float64:
				c[n] = slices.Clone(s)
			}
		}
		out.Buffers = append(out.Buffers, c)
	}
	return out
}

// SetState refuses state that the optimiser could not have produced, and Step refuses
// buffers that do not fit the parameters.
func TestSetStateRefuses(t *testing.T) {
	f32 := []float32{1, 2}
	adam := func(step float64, bufs ...map[string]any) State {
		return State{Buffers: bufs, Scalars: map[string]float64{"step": step}}
	}
	both := map[string]any{"exp_avg": f32, "exp_avg_sq": f32}
	for _, c := range []struct {
		name string
		st   State
	}{
		{"sgd", State{Scalars: map[string]float64{"step": 1}}},
		{"sgd", State{Buffers: []map[string]any{{"momentum_buffer": f32}}}},
		{"sgd", State{Buffers: []map[string]any{{"velocity": []int{1}}}}},
		{"adam", adam(2, map[string]any{"exp_avg": f32})},
		{"adam", adam(2, map[string]any{"exp_avg": f32, "exp_avg_sq": []float64{1, 2}})},
		{"adam", adam(2, map[string]any{"exp_avg": f32, "exp_avg_sq": f32[:1]})},
		{"adam", adam(2, both, nil)},
		{"adam", adam(0, both)},
		{"adam", adam(-1)},
		{"adam", adam(2.5, both)},
		{"adamw", State{Scalars: map[string]float64{"t": 1}}},
	} {
		opt, _ := New(c.name, nil, 0)
		if err := opt.SetState(c.st); err == nil {
			t.Errorf("%s accepted %+v", c.name, c.st)
		}
	}
	w, g := vec(tensor.Float32, []float64{1, 2, 3}), vec(tensor.Float32, []float64{1, 1, 1})
	for _, name := range []string{"sgd", "adam"} {
		opt, _ := New(name, nil, 0)
		var st State
		if name == "sgd" {
			st = State{Buffers: []map[string]any{{"velocity": f32}}}
		} else {
			st = adam(1, both)
		}
		if err := opt.SetState(st); err != nil {
			t.Fatal(err)
		}
		if err := opt.Step([]*tensor.Dense{w}, []*tensor.Dense{g}, 0.1); err == nil {
			t.Errorf("%s stepped a 3-weight parameter with 2-value buffers", name)
		}
		if !slices.Equal(values(w), []float64{1, 2, 3}) {
			t.Errorf("%s changed the weights in a refused step: %v", name, values(w))
		}
	}
}
