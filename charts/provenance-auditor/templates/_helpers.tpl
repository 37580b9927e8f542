{{/* Chart name, overridable with nameOverride. */}}
{{- define "provenance-auditor.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified name of the release's objects (also its ClusterRole and ClusterRoleBinding, so two
releases never share one). The release name alone when it already contains the chart name.
*/}}
{{- define "provenance-auditor.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "provenance-auditor.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "provenance-auditor.labels" -}}
helm.sh/chart: {{ include "provenance-auditor.chart" . }}
{{ include "provenance-auditor.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: provenance-auditor
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Labels selecting the controller's pods (immutable in the Deployment's selector). */}}
{{- define "provenance-auditor.selectorLabels" -}}
app.kubernetes.io/name: {{ include "provenance-auditor.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The ServiceAccount the controller runs as. */}}
{{- define "provenance-auditor.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "provenance-auditor.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image reference: repository, then @digest if set, else :tag (default: appVersion). */}}
{{- define "provenance-auditor.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Base of the alerts' runbook_url: the value, else docs/alerts.md of this app version. */}}
{{- define "provenance-auditor.runbookBaseURL" -}}
{{- default (printf "https://github.com/provenance-dev/provenance-auditor/blob/v%s/docs/alerts.md" .Chart.AppVersion) .Values.prometheusRule.runbookBaseURL }}
{{- end }}
