// Just enough of UnityEngine's surface for `mcs` to compile Runtime/ outside Unity (CI).
// Unity ignores folders whose names end in "~", so this never reaches a game.
using System;

namespace UnityEngine
{
    public class Object { }
    public class Component : Object { }
    public class Behaviour : Component { public bool enabled = true; }
    public class MonoBehaviour : Behaviour { }
    public sealed class AudioSource : Behaviour { }

    public static class AudioSettings
    {
        public static int outputSampleRate = 48000;
        // what a desktop Unity reports by default ("Best latency" is 256 x 4, "Good" 512 x 4)
        public static int dspBufferLength = 1024, dspBufferCount = 4;

        public static void GetDSPBufferSize(out int bufferLength, out int numBuffers)
        {
            bufferLength = dspBufferLength;
            numBuffers = dspBufferCount;
        }
    }

    public static class Debug
    {
        public static void Log(object message) { Console.Error.WriteLine(message); }
        public static void LogWarning(object message) { Console.Error.WriteLine("warning: " + message); }
        public static void LogError(object message) { Console.Error.WriteLine("error: " + message); }
    }

    [AttributeUsage(AttributeTargets.Class, AllowMultiple = true)]
    public sealed class RequireComponent : Attribute { public RequireComponent(Type type) { } }

    [AttributeUsage(AttributeTargets.Field)]
    public sealed class TooltipAttribute : Attribute { public TooltipAttribute(string tooltip) { } }
}
