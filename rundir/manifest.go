package rundir

// ManifestFile is the index of a sweep directory: a Manifest, beside one run directory per
// run of the sweep.
const ManifestFile = "manifest.json"

// Manifest is the content of a sweep's manifest.json.
type Manifest struct {
	Name   string          `json:"name"`
	Source string          `json:"source"` // the sweep config file
	Axes   []ManifestAxis  `json:"axes"`
	Runs   []ManifestEntry `json:"runs"`
}

// ManifestAxis is one swept path and its values (as YAML).
type ManifestAxis struct {
	Path   string   `json:"path"`
	Values []string `json:"values"`
}

// ManifestEntry is one run of the manifest.
type ManifestEntry struct {
	Index     int      `json:"index"`
	Name      string   `json:"name"`
	Dir       string   `json:"dir"`    // relative to the sweep directory
	Config    string   `json:"config"` // resolved config, relative to the sweep directory; "" if invalid
	Overrides []string `json:"overrides"`
	Error     string   `json:"error,omitempty"` // why the combination gives no valid config
}
