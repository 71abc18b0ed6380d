package ec2query

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"reflect"
	"strconv"
	"time"

	"github.com/hostd/hostd/hostd/api"
)

// Namespace is the XML namespace of EC2's responses for the API version hostd speaks.
const Namespace = "http://ec2.amazonaws.com/doc/2016-11-15/"

// APIVersion is the only Version hostd accepts.
const APIVersion = "2016-11-15"

// timeFormat is how EC2 writes a timestamp: UTC, milliseconds, Z.
const timeFormat = "2006-01-02T15:04:05.000Z"

const xmlHeader = `<?xml version="1.0" encoding="UTF-8"?>` + "\n"

// EncodeResponse is EC2's XML answer to action: <ActionResponse xmlns=…> with the requestId
// first, then out's members under their locationNames. A nil out (an action whose model has no
// output) answers <return>true</return>, as EC2 does.
//
// A nil pointer, a nil slice, an empty string and a zero time are left out, as EC2 leaves out
// what a resource does not have; everything else is written, false and 0 included. A non-nil
// empty slice is written as an empty set (<groupSet/>), which clients read as an empty list.
func EncodeResponse(action, requestID string, out any) []byte {
	var b bytes.Buffer
	b.WriteString(xmlHeader)
	fmt.Fprintf(&b, `<%sResponse xmlns="%s">`, action, Namespace)
	writeElement(&b, "requestId", requestID)
	if out == nil {
		b.WriteString("<return>true</return>")
	} else {
		v := reflect.ValueOf(out)
		for v.Kind() == reflect.Pointer {
			v = v.Elem()
		}
		encodeStruct(&b, v)
	}
	fmt.Fprintf(&b, "</%sResponse>", action)
	return b.Bytes()
}

// EncodeError is EC2's XML error document.
func EncodeError(e *api.Error, requestID string) []byte {
	var b bytes.Buffer
	b.WriteString(xmlHeader)
	b.WriteString("<Response><Errors><Error>")
	writeElement(&b, "Code", e.Code)
	writeElement(&b, "Message", e.Message)
	b.WriteString("</Error></Errors>")
	writeElement(&b, "RequestID", requestID)
	b.WriteString("</Response>")
	return b.Bytes()
}

// NewRequestID is a random UUID, as EC2's request ids are.
func NewRequestID() string {
	var u [16]byte
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

func writeElement(b *bytes.Buffer, name, text string) {
	openTag(b, name)
	if plainText(text) {
		b.WriteString(text)
	} else {
		_ = xml.EscapeText(b, []byte(text))
	}
	closeTag(b, name)
}

func openTag(b *bytes.Buffer, name string) {
	b.WriteByte('<')
	b.WriteString(name)
	b.WriteByte('>')
}

func closeTag(b *bytes.Buffer, name string) {
	b.WriteString("</")
	b.WriteString(name)
	b.WriteByte('>')
}

// plainText says whether s can be written as it is: printable ASCII with nothing XML escapes.
func plainText(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c >= 0x7f, c == '<', c == '>', c == '&', c == '\'', c == '"':
			return false
		}
	}
	return true
}

func encodeStruct(b *bytes.Buffer, v reflect.Value) {
	for _, f := range structInfoOf(v.Type()).fields {
		encodeMember(b, f.xmlName, v.Field(f.index))
	}
}

func encodeMember(b *bytes.Buffer, name string, v reflect.Value) {
	t := v.Type()
	switch {
	case t == unsupportedType:
	case t.Kind() == reflect.Pointer:
		if !v.IsNil() {
			encodeMember(b, name, v.Elem())
		}
	case t == timeType:
		if tm := v.Interface().(time.Time); !tm.IsZero() {
			openTag(b, name)
			b.Write(tm.UTC().AppendFormat(b.AvailableBuffer(), timeFormat))
			closeTag(b, name)
		}
	case t == bytesType:
		if !v.IsNil() {
			writeElement(b, name, base64.StdEncoding.EncodeToString(v.Bytes()))
		}
	case t.Kind() == reflect.Slice:
		if v.IsNil() {
			return
		}
		if v.Len() == 0 {
			b.WriteString("<" + name + "/>")
			return
		}
		openTag(b, name)
		for i := range v.Len() {
			encodeMember(b, "item", v.Index(i))
		}
		closeTag(b, name)
	case t.Kind() == reflect.Struct:
		openTag(b, name)
		encodeStruct(b, v)
		closeTag(b, name)
	case t.Kind() == reflect.String:
		if v.Len() > 0 {
			writeElement(b, name, v.String())
		}
	case t.Kind() == reflect.Bool:
		openTag(b, name)
		b.WriteString(strconv.FormatBool(v.Bool()))
		closeTag(b, name)
	case t.Kind() == reflect.Int || t.Kind() == reflect.Int32 || t.Kind() == reflect.Int64:
		openTag(b, name)
		b.Write(strconv.AppendInt(b.AvailableBuffer(), v.Int(), 10))
		closeTag(b, name)
	case t.Kind() == reflect.Float64:
		writeElement(b, name, strconv.FormatFloat(v.Float(), 'f', -1, 64))
	default:
		panic("ec2query: no XML form for " + t.String())
	}
}
