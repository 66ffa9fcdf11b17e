{{- /*
    The image cleaner (quay.io/jupyterhub/docker-image-cleaner): every
    intervalSeconds it measures how full the filesystem holding the engine's
    storage is (blocks or inodes, whichever is fuller); above
    thresholdPercent it removes stopped containers, then dangling images, and,
    when that was not enough, every image no container uses. It talks to the
    engine through its socket (docker and podman both serve the API it uses).
*/}}


{{- /*
    binderhub-service.image-cleaner.container:
        The cleaner's container, called with a dict:
          root             the chart's context ($)
          socketVolume     the volume holding the engine's socket (its
                           directory, or the socket itself)
          socketMountPath  where that volume is mounted
          socketPath       the engine's socket in the container
          storageVolume    the volume of the engine's storage
          storagePath      where that volume is mounted
*/}}
{{- define "binderhub-service.image-cleaner.container" -}}
{{- $root := .root }}
{{- $cleaner := $root.Values.dockerApi.imageCleaner }}
{{- $image := include "binderhub-service.image-cleaner.image" $root }}
- name: image-cleaner
  image: {{ $image | quote }}
  imagePullPolicy: {{ include "binderhub-service.pull-policy" (list $cleaner.image.pullPolicy $image) | quote }}
  # The image's entrypoint, once the engine's socket exists: the cleaner
  # connects to the engine when it starts, and exits if it cannot.
  command:
    - /tini
    - --
    - sh
    - -c
    - |
      until [ -S "$SOCKET" ]; do sleep 2; done
      exec docker-image-cleaner
  env:
    - name: SOCKET
      value: {{ .socketPath | quote }}
    - name: DOCKER_HOST
      value: {{ printf "unix://%s" .socketPath | quote }}
    - name: DOCKER_IMAGE_CLEANER_PATH_TO_CHECK
      value: {{ .storagePath | quote }}
    - name: DOCKER_IMAGE_CLEANER_THRESHOLD_TYPE
      value: relative
    - name: DOCKER_IMAGE_CLEANER_THRESHOLD_HIGH
      value: {{ $cleaner.thresholdPercent | quote }}
    - name: DOCKER_IMAGE_CLEANER_INTERVAL_SECONDS
      value: {{ $cleaner.intervalSeconds | quote }}
    {{- if $cleaner.cordon }}
    # Cordon this node while pruning, so that no build starts on it meanwhile.
    - name: DOCKER_IMAGE_CLEANER_NODE_NAME
      valueFrom:
        fieldRef:
          fieldPath: spec.nodeName
    {{- end }}
  # Root to reach the engine's root-owned socket, without capabilities: the
  # socket's owner needs none, and the cleaner writes no file.
  securityContext:
    runAsUser: 0
    runAsNonRoot: false
    allowPrivilegeEscalation: false
    readOnlyRootFilesystem: true
    capabilities:
      drop:
        - ALL
    seccompProfile:
      type: RuntimeDefault
  {{- with $cleaner.resources }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  # The cleaner is of use only while the engine's socket is there; restart it
  # with the engine (its API connection would be stale).
  readinessProbe:
    exec:
      command: ["test", "-S", {{ .socketPath | quote }}]
    periodSeconds: 10
  livenessProbe:
    exec:
      command: ["test", "-S", {{ .socketPath | quote }}]
    initialDelaySeconds: 120
    periodSeconds: 30
    failureThreshold: 4
  volumeMounts:
    # Read-only: nothing to write there (a socket still accepts connections).
    - name: {{ .socketVolume | quote }}
      mountPath: {{ .socketMountPath | quote }}
      readOnly: true
    - name: {{ .storageVolume | quote }}
      mountPath: {{ .storagePath | quote }}
      readOnly: true
    {{- if $cleaner.cordon }}
    - name: image-cleaner-api-access
      mountPath: /var/run/secrets/kubernetes.io/serviceaccount
      readOnly: true
    {{- end }}
{{- end }}


{{- /*
    binderhub-service.image-cleaner.api-volume:
        With cordon: the cleaner's token (its ServiceAccount may only get and
        patch nodes), mounted into the cleaner's container alone.
*/}}
{{- define "binderhub-service.image-cleaner.api-volume" -}}
{{- if .Values.dockerApi.imageCleaner.cordon }}
- name: image-cleaner-api-access
  projected:
    defaultMode: 288  # 0440
    sources:
      - serviceAccountToken:
          path: token
          expirationSeconds: 3607
      - configMap:
          name: kube-root-ca.crt
          items:
            - key: ca.crt
              path: ca.crt
      - downwardAPI:
          items:
            - path: namespace
              fieldRef:
                apiVersion: v1
                fieldPath: metadata.namespace
{{- end }}
{{- end }}
