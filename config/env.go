package config

import (
	"reflect"
	"sort"
	"strings"
)

// EnvPrefix starts every environment override.
const EnvPrefix = "TRACKER_"

// EnvOverrides lists the environment variables that override config keys, with
// the key each one sets: TRACKER_ plus the key path in upper case with
// underscores (TRACKER_KAFKA_BROKERS sets kafka.brokers; lists are
// comma-separated). Lists of sections (sources, auth.tokens) and maps (targets)
// can only be set in the file.
func EnvOverrides() map[string]string {
	out := map[string]string{}
	walkEnv(reflect.TypeFor[Config](), "", func(env, key string, _ []int) { out[env] = key })
	return out
}

func walkEnv(t reflect.Type, key string, fn func(env, key string, index []int), index ...int) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		k := joinPath(key, name)
		idx := append(append([]int{}, index...), i)
		ft := f.Type
		if ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Struct && !reflect.PointerTo(ft.Elem()).Implements(scalarType) {
			walkEnv(ft.Elem(), k, fn, idx...)
			continue
		}
		if ft.Kind() == reflect.Struct && !reflect.PointerTo(ft).Implements(scalarType) {
			walkEnv(ft, k, fn, idx...)
			continue
		}
		if ft.Kind() == reflect.Map || (ft.Kind() == reflect.Slice && ft.Elem().Kind() != reflect.String) {
			continue
		}
		fn(EnvPrefix+strings.ToUpper(strings.ReplaceAll(k, ".", "_")), k, idx)
	}
}

// applyEnv sets config values from TRACKER_* variables in environ, reporting
// bad values as problems that name the variable.
func applyEnv(cfg *Config, environ []string, d *decoder) {
	vals := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, EnvPrefix) {
			vals[k] = v
		}
	}
	if len(vals) == 0 {
		return
	}
	type hit struct {
		env, key string
		index    []int
	}
	var hits []hit
	walkEnv(reflect.TypeFor[Config](), "", func(env, key string, index []int) {
		if _, ok := vals[env]; ok {
			hits = append(hits, hit{env, key, index})
		}
	})
	sort.Slice(hits, func(i, j int) bool { return hits[i].env < hits[j].env })
	root := reflect.ValueOf(cfg).Elem()
	for _, h := range hits {
		v := root
		for _, i := range h.index {
			if v.Kind() == reflect.Pointer {
				if v.IsNil() {
					v.Set(reflect.New(v.Type().Elem()))
				}
				v = v.Elem()
			}
			v = v.Field(i)
		}
		raw := vals[h.env]
		sub := &decoder{file: "environment " + h.env, lines: map[string]int{}}
		sub.decode(envNode(raw, v), v, h.key)
		d.problems = append(d.problems, sub.problems...)
	}
}
