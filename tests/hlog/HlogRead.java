// SPDX-License-Identifier: MIT
//
// An independent reader of HdrHistogram interval logs (.hlog): HdrHistogram's
// own Java implementation (Debian's libhdrhistogram-java) decodes every
// interval of every file named, merges them all and prints JSON. ringer's
// writer (src/core/hlog.c) is tested against it; nothing here is ringer's.
//
// Run without compiling (the JDK's source launcher, in Debian's
// openjdk-17-jre-headless modules image):
//
//   java -cp /usr/share/java/hdrhistogram.jar tests/hlog/HlogRead.java \
//        [--intervals] FILE.hlog...
//
// Output, values in the units recorded (ringer: nanoseconds), as
// HdrHistogram reports them (getValueAtPercentile, getMaxValue: the highest
// value equivalent to the sample):
//
//   {"files": [{"path": ..., "start_time": seconds since epoch,
//               "intervals": N, "total_count", "min", "p50", "p90", "p99",
//               "p999", "max",
//               "interval_list": [...]}, ...],      <- with --intervals only
//    "merged": {"total_count", "min", "p50", "p90", "p99", "p999", "max"}}
//
// Each interval of interval_list is {"tag", "start" (seconds after
// start_time), "length", "total_count", "max", "counts": [[lowest equivalent
// value, count], ...]} with every recorded value. Tagged and untagged
// intervals alike count in every total.

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.HdrHistogram.EncodableHistogram;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.HistogramIterationValue;
import org.HdrHistogram.HistogramLogReader;

public class HlogRead {
	static String quote(String s) {
		if (s == null)
			return "null";
		StringBuilder b = new StringBuilder("\"");
		for (char c : s.toCharArray()) {
			if (c == '"' || c == '\\')
				b.append('\\').append(c);
			else if (c < 0x20)
				b.append(String.format("\\u%04x", (int) c));
			else
				b.append(c);
		}
		return b.append('"').toString();
	}

	static String summary(Histogram h) {
		return String.format(Locale.US,
				"\"total_count\": %d, \"min\": %d, \"p50\": %d, \"p90\": %d, \"p99\": %d, "
						+ "\"p999\": %d, \"max\": %d",
				h.getTotalCount(), h.getTotalCount() > 0 ? h.getMinValue() : 0,
				h.getValueAtPercentile(50.0), h.getValueAtPercentile(90.0),
				h.getValueAtPercentile(99.0), h.getValueAtPercentile(99.9), h.getMaxValue());
	}

	public static void main(String[] args) throws Exception {
		boolean intervals = false;
		List<String> paths = new ArrayList<>();
		for (String a : args) {
			if (a.equals("--intervals"))
				intervals = true;
			else
				paths.add(a);
		}
		if (paths.isEmpty()) {
			System.err.println("usage: HlogRead [--intervals] FILE.hlog...");
			System.exit(2);
		}
		// Auto-resizing with a unit of 1, like every histogram the log may hold.
		Histogram merged = new Histogram(3);
		StringBuilder out = new StringBuilder("{\"files\": [");
		for (int f = 0; f < paths.size(); f++) {
			HistogramLogReader reader = new HistogramLogReader(paths.get(f));
			Histogram file = new Histogram(3);
			StringBuilder list = new StringBuilder();
			int n = 0;
			EncodableHistogram e;
			while ((e = reader.nextIntervalHistogram()) != null) {
				if (!(e instanceof Histogram))
					throw new IllegalStateException("not an integer histogram: " + e);
				Histogram h = (Histogram) e;
				file.add(h);
				merged.add(h);
				if (intervals) {
					list.append(n > 0 ? ", " : "").append(String.format(Locale.US,
							"{\"tag\": %s, \"start\": %.3f, \"length\": %.3f, "
									+ "\"total_count\": %d, \"max\": %d, \"counts\": [",
							quote(h.getTag()),
							h.getStartTimeStamp() / 1000.0 - reader.getStartTimeSec(),
							(h.getEndTimeStamp() - h.getStartTimeStamp()) / 1000.0,
							h.getTotalCount(), h.getMaxValue()));
					boolean first = true;
					for (HistogramIterationValue v : h.recordedValues()) {
						list.append(first ? "" : ", ").append(String.format("[%d, %d]",
								h.lowestEquivalentValue(v.getValueIteratedTo()),
								v.getCountAtValueIteratedTo()));
						first = false;
					}
					list.append("]}");
				}
				n++;
			}
			reader.close();
			out.append(f > 0 ? ", " : "").append(String.format(Locale.US,
					"{\"path\": %s, \"start_time\": %.3f, \"intervals\": %d, %s",
					quote(paths.get(f)), reader.getStartTimeSec(), n, summary(file)));
			if (intervals)
				out.append(", \"interval_list\": [").append(list).append("]");
			out.append("}");
		}
		out.append("], \"merged\": {").append(summary(merged)).append("}}");
		System.out.println(out);
	}
}
