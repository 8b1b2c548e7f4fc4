#!/usr/bin/env bash
# gen.sh — regenerate kinedge's small test clips with ffmpeg.
#
# Usage:
#   testdata/gen.sh                 regenerate the committed clips next to this script
#   testdata/gen.sh --bench OUT.ts  write a 1080p25 ~4 Mbit/s H.264+AAC 10 s clip to
#                                   OUT.ts for benchmarks (large: never commit it)
#
# Idempotent: the same ffmpeg build gives byte-identical files (bitexact flags,
# single-threaded encoders, the burned-in clock is the media time, not the wall
# clock), so re-running it on a clean tree leaves `git status` clean.
#
# Clips (see README.md next to this script for their properties):
#   h264_aac.ts   MPEG-TS, H.264 main profile 320x240 25 fps, 2 B-frames, GOP 25
#                 (1 s, closed, no scene-cut keyframes), AAC-LC 48 kHz stereo,
#                 10 s, ~300 kbit/s in total.
#   h265_opus.ts  MPEG-TS, H.265 main 320x240 25 fps, GOP 50 (2 s), Opus 48 kHz
#                 stereo, 10 s.
#
# The picture is ffmpeg's testsrc2 (moving pattern) with the media time burned
# in with drawtext when a DejaVu font is installed; the sound is a 440/660 Hz
# sine that beeps once a second, so A/V sync can be checked by eye and ear.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ffmpeg="${FFMPEG:-ffmpeg}"
command -v "$ffmpeg" >/dev/null || { echo "gen.sh: ffmpeg not found" >&2; exit 1; }

font=""
for f in /usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf \
         /usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf; do
	if [[ -r "$f" ]]; then font="$f"; break; fi
done

# video_filter SIZE FONTSIZE: testsrc2 with the media time burned in, if we can.
video_filter() {
	local size="$1" fontsize="$2"
	local v="testsrc2=size=${size}:rate=25:duration=10"
	if [[ -n "$font" && "$("$ffmpeg" -hide_banner -filters 2>/dev/null)" == *" drawtext "* ]]; then
		v="${v},drawtext=fontfile=${font}:fontsize=${fontsize}:fontcolor=white:box=1:boxcolor=black@0.6:x=8:y=8:text='%{pts\\:hms}'"
	fi
	echo "${v},format=yuv420p"
}

audio_in="sine=frequency=440:sample_rate=48000:beep_factor=4:duration=10"
audio_in2="sine=frequency=660:sample_rate=48000:beep_factor=4:duration=10"

common=(-hide_banner -loglevel error -y)
outopts=(-fflags +bitexact -metadata service_provider=kinedge -metadata service_name=camsim)

h264_aac() {
	local out="$1" size="$2" fontsize="$3" vb="$4" maxrate="$5" bufsize="$6" preset="$7"
	"$ffmpeg" "${common[@]}" \
		-f lavfi -i "$(video_filter "$size" "$fontsize")" \
		-f lavfi -i "$audio_in" -f lavfi -i "$audio_in2" \
		-filter_complex '[1:a][2:a]amerge=inputs=2[a]' -map 0:v -map '[a]' \
		-c:v libx264 -preset "$preset" -profile:v main -bf 2 -g 25 -keyint_min 25 -sc_threshold 0 \
		-b:v "$vb" -maxrate "$maxrate" -bufsize "$bufsize" -threads 1 -flags:v +bitexact \
		-x264-params open-gop=0 \
		-c:a aac -b:a 64k -ar 48000 -ac 2 -flags:a +bitexact \
		"${outopts[@]}" -f mpegts "$out"
}

h265_opus() {
	local out="$1"
	"$ffmpeg" "${common[@]}" \
		-f lavfi -i "$(video_filter 320x240 20)" \
		-f lavfi -i "$audio_in" -f lavfi -i "$audio_in2" \
		-filter_complex '[1:a][2:a]amerge=inputs=2[a]' -map 0:v -map '[a]' \
		-c:v libx265 -preset fast -b:v 200k -flags:v +bitexact \
		-x265-params "keyint=50:min-keyint=50:scenecut=0:open-gop=0:pools=none:frame-threads=1:log-level=error" \
		-c:a libopus -b:a 64k -ar 48000 -ac 2 -flags:a +bitexact \
		"${outopts[@]}" -f mpegts "$out"
}

if [[ "${1:-}" == "--bench" ]]; then
	out="${2:?usage: gen.sh --bench OUT.ts}"
	h264_aac "$out" 1920x1080 64 4M 4500k 8M veryfast
	echo "wrote $out"
	exit 0
fi

h264_aac "$here/h264_aac.ts" 320x240 20 230k 300k 600k medium
h265_opus "$here/h265_opus.ts"
ls -l "$here"/*.ts
