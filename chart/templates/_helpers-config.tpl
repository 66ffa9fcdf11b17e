{{- /*
    BinderHub's effective configuration, and checks of the values that a
    JSON schema cannot express.
*/}}


{{- /*
    binderhub-service.base-url:
        config.BinderHub.base_url with exactly one trailing slash.
*/}}
{{- define "binderhub-service.base-url" -}}
    {{- $baseUrl := "/" }}
    {{- with .Values.config.BinderHub }}
        {{- $baseUrl = .base_url | default "/" }}
    {{- end }}
    {{- printf "%s/" (trimSuffix "/" $baseUrl) }}
{{- end }}


{{- /*
    binderhub-service.port:
        config.BinderHub.port, BinderHub's listening port (default 8585).
*/}}
{{- define "binderhub-service.port" -}}
    {{- $port := 8585 }}
    {{- with .Values.config.BinderHub }}
        {{- $port = .port | default 8585 }}
    {{- end }}
    {{- $port | int }}
{{- end }}


{{- /*
    binderhub-service.docker-api.image:
        The container engine's image: dockerApi.image, each of repository and
        tag falling back to dockerApi.defaultImages.<type>.
*/}}
{{- define "binderhub-service.docker-api.image" -}}
    {{- $default := get .Values.dockerApi.defaultImages .Values.dockerApi.type | default dict }}
    {{- $repository := .Values.dockerApi.image.repository | default $default.repository }}
    {{- $tag := .Values.dockerApi.image.tag | default $default.tag }}
    {{- printf "%s:%s" $repository $tag }}
{{- end }}


{{- /*
    binderhub-service.pull-policy:
        An image's pullPolicy value (the argument), Always when empty. With
        Always the kubelet asks the registry for the tag's manifest, with the
        pull credentials, at every container start: a tag pushed again or
        revoked credentials are noticed. Layers already on the node are not
        downloaded again; the cost is one manifest request per start.
*/}}
{{- define "binderhub-service.pull-policy" -}}
    {{- . | default "Always" }}
{{- end }}


{{- /*
    binderhub-service.binderhub.secret-mode:
        defaultMode of the Secret and token volumes of the BinderHub pod, in
        decimal. 0440 (288) when podSecurityContext.fsGroup gives the files
        the pod's group; without an fsGroup the files belong to root, so 0444
        (292) keeps them readable by the non-root user.
*/}}
{{- define "binderhub-service.binderhub.secret-mode" -}}
    {{- if (.Values.podSecurityContext | default dict).fsGroup }}
        {{- 288 }}
    {{- else }}
        {{- 292 }}
    {{- end }}
{{- end }}


{{- /*
    binderhub-service.hub.*:
        Values derived from hubIntegration.
*/}}
{{- define "binderhub-service.hub.base-url" -}}
    {{- printf "%s/" (trimSuffix "/" (.Values.hubIntegration.baseUrl | default "/")) }}
{{- end }}

{{- define "binderhub-service.hub.api-url" -}}
    {{- .Values.hubIntegration.apiUrl | default (printf "http://hub:8081%shub/api/" (include "binderhub-service.hub.base-url" .)) }}
{{- end }}

{{- define "binderhub-service.hub.client-id" -}}
    {{- .Values.hubIntegration.oauthClientId | default (printf "service-%s" .Values.hubIntegration.serviceName) }}
{{- end }}

{{- define "binderhub-service.hub.callback-url" -}}
    {{- .Values.hubIntegration.oauthCallbackUrl | default (printf "%sservices/%s/oauth_callback" (include "binderhub-service.hub.base-url" .) .Values.hubIntegration.serviceName) }}
{{- end }}


{{- /*
    binderhub-service.config:
        The traitlets configuration given to BinderHub: .Values.config, with
        the traits the chart derives from its other values added where the
        user did not set them in config.<Class>.<trait>:

        KubernetesBuildExecutor.push_secret     the push Secret's name
        KubernetesBuildExecutor.docker_host     the per-release daemon socket
        KubernetesBuildExecutor.node_selector   dockerApi.nodeSelector (build
                                                pods need a daemon on their node)
        BinderHub.auth_enabled, hub_url,
        hub_url_local                           hubIntegration

        buildPods.targetRepoDir is appended to repo2docker_extra_args.
*/}}
{{- define "binderhub-service.config" -}}
    {{- $config := dict }}
    {{- range $class, $traits := .Values.config }}
        {{- $_ := set $config $class (deepCopy ($traits | default dict)) }}
    {{- end }}
    {{- range $class := list "BinderHub" "BuildExecutor" "KubernetesBuildExecutor" }}
        {{- if not (hasKey $config $class) }}
            {{- $_ := set $config $class dict }}
        {{- end }}
    {{- end }}

    {{- /* KubernetesBuildExecutor */}}
    {{- $kbe := get $config "KubernetesBuildExecutor" }}
    {{- if not (hasKey $kbe "push_secret") }}
        {{- $_ := set $kbe "push_secret" (include "binderhub-service.push-secret.fullname" .) }}
    {{- end }}
    {{- if not (hasKey $kbe "docker_host") }}
        {{- $_ := set $kbe "docker_host" (include "binderhub-service.docker-api.socket-path" .) }}
    {{- end }}
    {{- if and (ne .Values.dockerApi.type "host") .Values.dockerApi.nodeSelector (not (hasKey $kbe "node_selector")) }}
        {{- $_ := set $kbe "node_selector" (deepCopy .Values.dockerApi.nodeSelector) }}
    {{- end }}

    {{- /* BinderHub, as a JupyterHub service */}}
    {{- $bh := get $config "BinderHub" }}
    {{- if .Values.hubIntegration.enabled }}
        {{- if not (hasKey $bh "auth_enabled") }}
            {{- $_ := set $bh "auth_enabled" .Values.hubIntegration.auth }}
        {{- end }}
        {{- if and .Values.hubIntegration.url (not (hasKey $bh "hub_url")) }}
            {{- $_ := set $bh "hub_url" .Values.hubIntegration.url }}
        {{- end }}
        {{- if and .Values.hubIntegration.urlLocal (not (hasKey $bh "hub_url_local")) }}
            {{- $_ := set $bh "hub_url_local" .Values.hubIntegration.urlLocal }}
        {{- end }}
    {{- end }}

    {{- /* repo2docker's --target-repo-dir */}}
    {{- with .Values.buildPods.targetRepoDir }}
        {{- $arg := printf "--target-repo-dir=%s" . }}
        {{- /*
            KubernetesBuildExecutor's own setting, when present, hides the one
            of its parent class BuildExecutor: add the argument where it counts.
        */}}
        {{- $section := get $config "BuildExecutor" }}
        {{- $name := "BuildExecutor" }}
        {{- if hasKey $kbe "repo2docker_extra_args" }}
            {{- $section = $kbe }}
            {{- $name = "KubernetesBuildExecutor" }}
        {{- end }}
        {{- $args := list }}
        {{- range $section.repo2docker_extra_args | default list }}
            {{- if and (hasPrefix "--target-repo-dir" .) (ne . $arg) }}
                {{- fail (printf "\n\nbuildPods.targetRepoDir (%s) conflicts with %q in config.%s.repo2docker_extra_args: set the directory in one place only." $arg . $name) }}
            {{- end }}
            {{- if ne . $arg }}
                {{- $args = append $args . }}
            {{- end }}
        {{- end }}
        {{- $_ := set $section "repo2docker_extra_args" (append $args $arg) }}
    {{- end }}

    {{- range $class, $traits := $config }}
        {{- if not $traits }}
            {{- $_ := unset $config $class }}
        {{- end }}
    {{- end }}
    {{- toYaml $config }}
{{- end }}


{{- /*
    binderhub-service.chart-config:
        The YAML file read by files/binderhub_config.py.
*/}}
{{- define "binderhub-service.chart-config" -}}
config:
  {{- include "binderhub-service.config" . | nindent 2 }}
extraConfig:
  {{- .Values.extraConfig | default dict | toYaml | nindent 2 }}
custom:
  {{- .Values.custom | default dict | toYaml | nindent 2 }}
{{- end }}


{{- /*
    binderhub-service.validate:
        Fail early, with the name of the values involved, on combinations the
        schema cannot reject.
*/}}
{{- define "binderhub-service.validate" -}}
    {{- $types := list "dind" "podman" "host" }}
    {{- if not (has .Values.dockerApi.type $types) }}
        {{- fail (printf "\n\ndockerApi.type must be one of dind, podman or host, not %q." (toString .Values.dockerApi.type)) }}
    {{- end }}
    {{- /* A unix socket path holds at most 107 bytes (108 with its NUL). */}}
    {{- $socket := include "binderhub-service.docker-api.socket-path" . }}
    {{- if gt (len $socket) 107 }}
        {{- fail (printf "\n\nThe build daemon's socket path %s is %d characters, more than the 107 a unix socket allows: use a shorter namespace or release name." $socket (len $socket)) }}
    {{- end }}
    {{- if and .Values.rbac.create (not .Values.serviceAccount.create) (not .Values.serviceAccount.name) }}
        {{- fail "\n\nserviceAccount.create is false and serviceAccount.name is empty: the Role would go to the namespace's default ServiceAccount, which every pod there uses; name the ServiceAccount BinderHub runs as." }}
    {{- end }}

    {{- $creds := .Values.buildPodsRegistryCredentials }}
    {{- if $creds.existingSecret }}
        {{- range $key := list "server" "username" "password" }}
            {{- if get $creds $key }}
                {{- fail (printf "\n\nbuildPodsRegistryCredentials.existingSecret and buildPodsRegistryCredentials.%s are both set: the existing Secret already holds the credentials, set only one of them." $key) }}
            {{- end }}
        {{- end }}
        {{- if .Values.buildPodsDockerConfig }}
            {{- fail "\n\nbuildPodsRegistryCredentials.existingSecret and buildPodsDockerConfig are both set: the existing Secret is used as is, put that docker config into it instead." }}
        {{- end }}
    {{- else if or $creds.username $creds.password }}
        {{- /* A server alone is a registry that needs no credentials. */}}
        {{- range $key := list "server" "username" "password" }}
            {{- if not (get $creds $key) }}
                {{- fail (printf "\n\nbuildPodsRegistryCredentials.%s is empty: set server, username and password together (or only server, for a registry that needs no credentials)." $key) }}
            {{- end }}
        {{- end }}
    {{- end }}

    {{- $hub := .Values.hubIntegration }}
    {{- if $hub.enabled }}
        {{- if and $hub.apiUrl (not (hasSuffix "/" $hub.apiUrl)) }}
            {{- fail (printf "\n\nhubIntegration.apiUrl must end with a slash, e.g. %q." (printf "%s/" $hub.apiUrl)) }}
        {{- end }}
        {{- if not $hub.apiToken.existingSecret }}
            {{- fail "\n\nhubIntegration.apiToken.existingSecret is empty: BinderHub needs the API token of its JupyterHub service (z2jh keeps it in the Secret \"hub\")." }}
        {{- end }}
        {{- if and $hub.auth (gt (int .Values.replicas) 1) (not $hub.cookieSecret.existingSecret) }}
            {{- fail (printf "\n\nreplicas is %d but hubIntegration.auth is true: each BinderHub process signs its login cookies with its own random secret, so users would be logged out whenever a request reaches another replica. Keep replicas at 1, or set hubIntegration.cookieSecret.existingSecret to a Secret shared by all replicas." (int .Values.replicas)) }}
        {{- end }}
    {{- end }}
{{- end }}
