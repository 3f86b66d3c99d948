package validator

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/go-chi/chi/v5"
)

// A plan validates one operation's parameters as kin-openapi's
// ValidateRequest would, without its generic machinery: kin-openapi decodes
// every parameter through its serialization method, parses the whole query
// into a map and builds a schema-validation context per value, about twenty
// allocations for the internal call's three parameters, which is most of
// what the guard cost per call (see the README's Performance section).
//
// A plan is compiled at start-up from the contract kin-openapi loaded, only
// for operations whose parameters are all plain integers or strings in the
// path, query or a header, with no request body and no schema keyword
// beyond type, format (int32/int64), minimum, maximum, minLength, maxLength
// and pattern. Any other operation keeps kin-openapi's ValidateRequest, and
// so would this one the day the contract adds a keyword a plan does not
// know. Security requirements are still decided by kin-openapi's own
// ValidateSecurityRequirements, first, as before. FuzzPlanAgreesWithKinOpenAPI
// holds the two to the same verdict (status, problem body, whether the
// handler ran) on both contracts.
//
// One difference is deliberate: kin-openapi writes a missing query
// parameter's default into the request's query; a plan leaves the request
// as it came, and the generated handler's parameter is nil, for which the
// handlers use the contract's default themselves.
type plan struct {
	security openapi3.SecurityRequirements
	params   []paramCheck
}

type paramCheck struct {
	p        *openapi3.Parameter
	header   string // canonical header key, for in: header
	integer  bool
	bits     int // 32 or 64, for integers
	min, max *float64
	minLen   uint64
	maxLen   *uint64
	// matches is the pattern: a table lookup when it is ^[ASCII class]+$
	// (or *), the regexp otherwise; nil without one.
	matches func(string) bool
}

// compilePlan returns the plan of route, or nil when the operation needs
// kin-openapi's generic validation.
func compilePlan(route *routers.Route) *plan {
	op := route.Operation
	if op.RequestBody != nil || route.Spec.IsOpenAPI31OrLater() {
		return nil
	}
	pl := &plan{security: route.Spec.Security}
	if op.Security != nil {
		pl.security = *op.Security
	}
	// The same parameters in the same order as ValidateRequest: the path
	// item's (unless the operation overrides one), then the operation's.
	var params []*openapi3.Parameter
	for _, ref := range route.PathItem.Parameters {
		if op.Parameters != nil && op.Parameters.GetByInAndName(ref.Value.In, ref.Value.Name) != nil {
			continue
		}
		params = append(params, ref.Value)
	}
	for _, ref := range op.Parameters {
		params = append(params, ref.Value)
	}
	for _, p := range params {
		c, ok := compileParam(p)
		if !ok {
			return nil
		}
		pl.params = append(pl.params, c)
	}
	return pl
}

func compileParam(p *openapi3.Parameter) (paramCheck, bool) {
	if p == nil || p.Content != nil || p.Schema == nil || p.Schema.Value == nil ||
		p.Style != "" || p.Explode != nil || p.AllowEmptyValue {
		return paramCheck{}, false
	}
	switch p.In {
	case openapi3.ParameterInPath, openapi3.ParameterInQuery, openapi3.ParameterInHeader:
	default:
		return paramCheck{}, false
	}
	s := p.Schema.Value
	c := paramCheck{p: p, header: http.CanonicalHeaderKey(p.Name)}
	switch {
	case s.Type.Is(openapi3.TypeInteger):
		c.integer = true
		switch s.Format {
		case "", "int64":
			c.bits = 64
		case "int32":
			c.bits = 32
		default:
			return paramCheck{}, false
		}
		c.min, c.max = s.Min, s.Max
	case s.Type.Is(openapi3.TypeString):
		if s.Format != "" {
			return paramCheck{}, false
		}
		c.minLen, c.maxLen = s.MinLength, s.MaxLength
		if s.Pattern != "" {
			// kin-openapi rewrites \uXXXX before compiling; leave such
			// patterns to it rather than guess.
			if strings.Contains(s.Pattern, `\u`) {
				return paramCheck{}, false
			}
			re, err := regexp.Compile(s.Pattern)
			if err != nil {
				return paramCheck{}, false
			}
			c.matches = re.MatchString
			if class := classOf(s.Pattern); class != nil {
				c.matches = class.matches
			}
		}
	default:
		return paramCheck{}, false
	}
	// Whatever else the schema says must constrain nothing.
	rest := *s
	rest.Type, rest.Format, rest.Min, rest.Max = nil, "", nil, nil
	rest.MinLength, rest.MaxLength, rest.Pattern = 0, nil, ""
	if !rest.IsEmpty() {
		return paramCheck{}, false
	}
	return c, true
}

// validate is ValidateRequest for a planned operation: security first, then
// each parameter in order, the first failure deciding.
func (pl *plan) validate(ctx context.Context, rctx *chi.Context, in *openapi3filter.RequestValidationInput) error {
	if err := openapi3filter.ValidateSecurityRequirements(ctx, in, pl.security); err != nil {
		return err
	}
	for i := range pl.params {
		if err := pl.params[i].check(rctx, in); err != nil {
			return err
		}
	}
	return nil
}

// check decodes and validates one parameter, returning the same kind of
// error kin-openapi would (so the 400 names the same field and rule).
func (c *paramCheck) check(rctx *chi.Context, in *openapi3filter.RequestValidationInput) error {
	raw, found := c.lookup(in.Request, rctx)
	fail := func(err error) error { return &openapi3filter.RequestError{Input: in, Parameter: c.p, Err: err} }
	failWith := func(err error) error {
		return &openapi3filter.RequestError{Input: in, Parameter: c.p, Reason: err.Error(), Err: err}
	}
	// A non-string parameter sent empty decodes to no value.
	if raw == "" && (c.integer || !found) {
		switch {
		case c.p.Required && !found:
			return failWith(openapi3filter.ErrInvalidRequired)
		case found:
			return failWith(openapi3filter.ErrInvalidEmptyValue)
		}
		return nil
	}
	if c.integer {
		n, err := strconv.ParseInt(raw, 10, c.bits)
		if err != nil {
			return fail(&openapi3filter.ParseError{Kind: openapi3filter.KindInvalidFormat, Value: raw,
				Reason: "an invalid integer", Cause: err.(*strconv.NumError).Err})
		}
		v := float64(n) // kin-openapi compares numbers as float64
		if c.min != nil && !(*c.min <= v) {
			return fail(c.schemaError("minimum", raw))
		}
		if c.max != nil && !(*c.max >= v) {
			return fail(c.schemaError("maximum", raw))
		}
		return nil
	}
	if c.minLen != 0 || c.maxLen != nil {
		n := uint64(utf8.RuneCountInString(raw))
		if c.minLen != 0 && n < c.minLen {
			return fail(c.schemaError("minLength", raw))
		}
		if c.maxLen != nil && n > *c.maxLen {
			return fail(c.schemaError("maxLength", raw))
		}
	}
	if c.matches != nil && !c.matches(raw) {
		return fail(c.schemaError("pattern", raw))
	}
	return nil
}

func (c *paramCheck) schemaError(keyword string, value string) error {
	return &openapi3.SchemaError{Value: value, Schema: c.p.Schema.Value, SchemaField: keyword, Reason: "violates " + keyword}
}

// lookup finds the raw value as kin-openapi's decoders do: a path value
// ("" is absent), the first non-empty of a query key's values, the first
// value of a header.
func (c *paramCheck) lookup(r *http.Request, rctx *chi.Context) (string, bool) {
	switch c.p.In {
	case openapi3.ParameterInPath:
		v := rctx.URLParam(c.p.Name)
		return v, v != ""
	case openapi3.ParameterInQuery:
		return queryValue(r.URL.RawQuery, c.p.Name)
	default:
		vs, ok := r.Header[c.header]
		if !ok || len(vs) == 0 {
			return "", false
		}
		return vs[0], true
	}
}

// queryValue is url.ParseQuery's value for key (the first non-empty one of
// its values) without building the map. A query with anything to unescape,
// a semicolon, or many pairs goes through url.ParseQuery itself.
func queryValue(query, key string) (string, bool) {
	if query == "" {
		return "", false
	}
	if strings.ContainsAny(query, "%+;") || strings.Count(query, "&") >= 100 {
		values := parsed(url.ParseQuery(query))
		vs, ok := values[key]
		if !ok {
			return "", false
		}
		for _, v := range vs {
			if v != "" {
				return v, true
			}
		}
		return "", true
	}
	value, found := "", false
	for query != "" {
		var pair string
		pair, query, _ = strings.Cut(query, "&")
		k, v, _ := strings.Cut(pair, "=")
		if pair == "" || k != key {
			continue
		}
		if !found || value == "" {
			value, found = v, true
		}
	}
	return value, found
}

// parsed drops ParseQuery's error: like url.URL.Query, keep what parsed.
func parsed(v url.Values, _ error) url.Values { return v }

// byteClass is a pattern of the form ^[class]+$ or ^[class]*$ whose class
// holds ASCII characters only (the contract's header patterns): matching is
// a table lookup per byte. A byte of 0x80 or more is part of a non-ASCII
// rune (or invalid UTF-8, which the regexp reads as U+FFFD), never in the
// class, as with the regexp.
type byteClass struct {
	in       [256]bool
	nonEmpty bool
}

func classOf(pattern string) *byteClass {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil
	}
	re = re.Simplify()
	if re.Op != syntax.OpConcat || len(re.Sub) != 3 || re.Sub[0].Op != syntax.OpBeginText || re.Sub[2].Op != syntax.OpEndText {
		return nil
	}
	rep := re.Sub[1]
	if rep.Op != syntax.OpPlus && rep.Op != syntax.OpStar || len(rep.Sub) != 1 || rep.Sub[0].Op != syntax.OpCharClass {
		return nil
	}
	c := &byteClass{nonEmpty: rep.Op == syntax.OpPlus}
	ranges := rep.Sub[0].Rune
	for i := 0; i+1 < len(ranges); i += 2 {
		if ranges[i+1] >= utf8.RuneSelf {
			return nil
		}
		for r := ranges[i]; r <= ranges[i+1]; r++ {
			c.in[r] = true
		}
	}
	return c
}

func (c *byteClass) matches(s string) bool {
	if c.nonEmpty && s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !c.in[s[i]] {
			return false
		}
	}
	return true
}
