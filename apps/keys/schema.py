from drf_spectacular.extensions import OpenApiAuthenticationExtension


class APIKeyScheme(OpenApiAuthenticationExtension):
    target_class = "apps.keys.authentication.APIKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-API-Key",
            "description": (
                "An `ingest` key for write endpoints, a `read` key for queries, an "
                "`admin` key for configuration and triage (it reads too); "
                "`Authorization: Bearer <key>` works too."
            ),
        }
