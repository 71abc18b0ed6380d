package ec2query

import (
	"encoding/json"
	"fmt"
	"reflect"
	"time"
)

// sampler fills every field of a request or output type with a value of its own, so that a
// member lost or misplaced on its way through a client shows up as a difference.
type sampler struct{ n int }

var sampleEpoch = time.Date(2016, 11, 15, 10, 0, 0, 0, time.UTC)

func (s *sampler) fill(v reflect.Value, name string) {
	s.n++
	t := v.Type()
	switch {
	case t == unsupportedType:
	case t == timeType:
		v.Set(reflect.ValueOf(sampleEpoch.Add(time.Duration(s.n)*time.Second + time.Duration(s.n%1000)*time.Millisecond)))
	case t == bytesType:
		v.SetBytes(fmt.Appendf(nil, "bytes-%d", s.n))
	case t.Kind() == reflect.Pointer:
		v.Set(reflect.New(t.Elem()))
		s.fill(v.Elem(), name)
	case t.Kind() == reflect.Struct:
		for _, f := range structInfoOf(t).fields {
			// DryRun stays false (the router's DryRun step is tested on its own), and members
			// newer than botocore's model stay out (botocore cannot send them).
			if f.member != "DryRun" && !f.newer {
				s.fill(v.Field(f.index), f.member)
			}
		}
	case t.Kind() == reflect.Slice:
		v.Set(reflect.MakeSlice(t, 2, 2))
		s.fill(v.Index(0), name)
		s.fill(v.Index(1), name)
	case t.Kind() == reflect.String:
		v.SetString(fmt.Sprintf("%s-%d", name, s.n))
	case t.Kind() == reflect.Bool:
		v.SetBool(s.n%3 != 0) // true mostly (false is what a lost member reads as), false sometimes
	case t.Kind() == reflect.Int:
		v.SetInt(int64(100 + s.n)) // above every minimum botocore checks (MaxResults ≥ 5)
	case t.Kind() == reflect.Float64:
		v.SetFloat(float64(s.n) + 0.5)
	default:
		panic("no sample for " + t.String())
	}
}

func sampleOf(t reflect.Type) reflect.Value {
	v := reflect.New(t)
	(&sampler{}).fill(v.Elem(), t.Name())
	return v
}

// members is a value as botocore and the SDKs see it: maps keyed by the model's member names,
// lists, and scalars, with timestamps in EC2's text form and nothing for what is absent. The
// result is JSON-normalised (numbers are float64), to compare with what a client parsed.
func members(v reflect.Value) any {
	return jsonMembers(v, false)
}

// jsonMembers is members, with blobs as base64 when base64Blobs (as encoding/json reads []byte).
func jsonMembers(v reflect.Value, base64Blobs bool) any {
	b, err := json.Marshal(plainMembers(v, base64Blobs))
	if err != nil {
		panic(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return out
}

func plainMembers(v reflect.Value, base64Blobs bool) any {
	t := v.Type()
	switch {
	case t == unsupportedType:
		return nil
	case t == timeType:
		tm := v.Interface().(time.Time)
		if tm.IsZero() {
			return nil
		}
		return tm.UTC().Format(timeFormat)
	case t == bytesType:
		if v.IsNil() {
			return nil
		}
		if base64Blobs {
			return v.Bytes()
		}
		return string(v.Bytes())
	case t.Kind() == reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		return plainMembers(v.Elem(), base64Blobs)
	case t.Kind() == reflect.Struct:
		m := map[string]any{}
		for _, f := range structInfoOf(t).fields {
			if f.newer { // what the SDK fills in on its own, as it pleases
				continue
			}
			if x := plainMembers(v.Field(f.index), base64Blobs); x != nil {
				m[f.member] = x
			}
		}
		return m
	case t.Kind() == reflect.Slice:
		if v.IsNil() {
			return nil
		}
		l := make([]any, v.Len())
		for i := range l {
			l[i] = plainMembers(v.Index(i), base64Blobs)
		}
		return l
	case t.Kind() == reflect.String:
		if v.Len() == 0 {
			return nil
		}
		return v.String()
	}
	return v.Interface()
}
