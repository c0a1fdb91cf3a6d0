package layers_test

import "gopkg.in/yaml.v3"

func yamlString(v any) (string, error) {
	b, err := yaml.Marshal(v)
	return string(b), err
}
