// Package apisonator speaks the subset of 3scale Apisonator's
// service-management API that load tests use: it parses transaction
// requests, decides authorize/authrep/report from the catalog and the usage
// counters, and encodes answers, error codes and HTTP statuses the way
// Apisonator does, so that a client written for a real 3scale backend works
// unchanged against the reference system.
package apisonator

import (
	"encoding/xml"
	"strings"
)

// Error is an Apisonator error: a code (the underscored class name, as
// Apisonator derives it), a message and the HTTP status it answers with.
type Error struct {
	Code    string
	Message string
	Status  int
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// XML renders the error as Apisonator does:
// <?xml version="1.0" encoding="UTF-8"?><error code="CODE">MESSAGE</error>
func (e *Error) XML() []byte {
	var b strings.Builder
	b.WriteString(xmlHeader)
	b.WriteString(`<error code="`)
	_ = xml.EscapeText(&b, []byte(e.Code))
	b.WriteString(`">`)
	b.WriteString(textEscaper.Replace(e.Message))
	b.WriteString(`</error>`)
	return []byte(b.String())
}

// textEscaper escapes element text as Ruby's Builder does: &, < and >, not
// quotes (so messages keep their "quoted" names, as Apisonator answers).
var textEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

const xmlHeader = `<?xml version="1.0" encoding="UTF-8"?>`

// Statuses by error family, as in Apisonator's errors.rb: Error is 403,
// NotFound 404, Invalid 422, BadRequest 400.
const (
	statusError    = 403
	statusNotFound = 404
	statusInvalid  = 422
	statusBad      = 400
)

func newErr(code string, status int, msg string) *Error {
	return &Error{Code: code, Message: msg, Status: status}
}

// The errors the transactions endpoints give, with Apisonator's messages.

func ErrProviderKeyOrServiceTokenRequired() *Error {
	return newErr("provider_key_or_service_token_required", statusError, "Provider key or service token are required")
}
func ErrServiceIDMissing() *Error {
	return newErr("service_id_missing", statusInvalid, "Service ID is missing")
}

// ErrServiceTokenInvalid is current Apisonator's text, which names both
// (the class kept its name "to avoid breaking users").
func ErrServiceTokenInvalid(token, serviceID string) *Error {
	return newErr("service_token_invalid", statusError, `service token "`+token+`" or service id "`+serviceID+`" is invalid`)
}
func ErrProviderKeyInvalid(key string) *Error {
	return newErr("provider_key_invalid", statusError, `provider key "`+key+`" is invalid`)
}
func ErrProviderKeyInvalidOrServiceMissing(key string) *Error {
	return newErr("provider_key_invalid_or_service_missing", statusError, `provider key "`+key+`" invalid and/or service ID missing`)
}
func ErrServiceIDInvalid(id string) *Error {
	return newErr("service_id_invalid", statusError, `service id "`+id+`" is invalid`)
}
func ErrApplicationNotFound(id string) *Error {
	if strings.TrimSpace(id) == "" {
		return newErr("application_not_found", statusNotFound, "application id is missing")
	}
	return newErr("application_not_found", statusNotFound, `application with id="`+id+`" was not found`)
}
func ErrUserKeyInvalid(key string) *Error {
	if strings.TrimSpace(key) == "" {
		return newErr("user_key_invalid", statusError, "user key is missing")
	}
	return newErr("user_key_invalid", statusError, `user key "`+key+`" is invalid`)
}
func ErrAuthentication() *Error {
	return newErr("authentication_error", statusError, "either app_id or user_key is allowed, not both")
}
func ErrMetricInvalid(name string) *Error {
	return newErr("metric_invalid", statusNotFound, `metric "`+name+`" is invalid`)
}
func ErrUsageValueInvalid(metric, value string) *Error {
	if strings.TrimSpace(value) == "" {
		return newErr("usage_value_invalid", statusError, `usage value for metric "`+metric+`" can not be empty`)
	}
	return newErr("usage_value_invalid", statusError, `usage value "`+value+`" for metric "`+metric+`" is invalid`)
}
func ErrEndUsersNoLongerSupported() *Error {
	return newErr("end_users_no_longer_supported", statusBad, "End-users are no longer supported, do not specify the user_id parameter")
}

// ErrNotValidData is 422: current Apisonator's errors.rb declares
// NotValidData an Invalid, and its exception catcher answers with that
// http_code. An older Apisonator test asserts 400; the code, which is what
// a client meets, is followed here.
func ErrNotValidData() *Error {
	return newErr("not_valid_data", statusInvalid, "all data must be valid UTF8")
}
func ErrBadRequest() *Error {
	return newErr("bad_request", statusBad, "request contains syntax errors, should not be repeated without modification")
}
func ErrContentTypeInvalid(ct string) *Error {
	return newErr("content_type_invalid", statusBad, "invalid Content-Type: "+ct)
}
func ErrTransactionsIsBlank() *Error {
	return newErr("transactions_is_blank", statusBad, "transactions parameter is blank")
}
func ErrTransactionsFormatInvalid() *Error {
	return newErr("transactions_format_invalid", statusBad, "transactions format is invalid")
}
func ErrTransactionsHasNilTransaction() *Error {
	return newErr("transactions_has_nil_transaction", statusBad, "transactions has a nil transaction")
}

// Rejections: a failed validator does not raise, it answers 409 with
// <authorized>false</authorized><reason>…</reason> (Apisonator's Status#reject!).

func rejectApplicationKeyInvalid(key string) *Error {
	if strings.TrimSpace(key) == "" {
		return newErr("application_key_invalid", statusError, "application key is missing")
	}
	return newErr("application_key_invalid", statusError, `application key "`+key+`" is invalid`)
}
func rejectApplicationNotActive() *Error {
	return newErr("application_not_active", statusError, "application is not active")
}
func rejectServiceNotActive() *Error {
	return newErr("service_not_active", statusError, "service is not active")
}
func rejectOauthNotEnabled() *Error {
	return newErr("oauth_not_enabled", statusError, "oauth is not enabled")
}
func rejectRedirectURIInvalid(uri string) *Error {
	return newErr("redirect_uri_invalid", statusError, `redirect_uri "`+uri+`" is invalid`)
}
func rejectRedirectURLInvalid(url string) *Error {
	return newErr("redirect_url_invalid", statusError, `redirect_url "`+url+`" is invalid`)
}
func rejectLimitsExceeded() *Error {
	return newErr("limits_exceeded", statusError, "usage limits are exceeded")
}
